//! A generated catalog: collections, a two-level category tree, products
//! with 1 to 4 variants, stock (at the default location too), sales counts,
//! collection and category memberships, then the search documents.

use std::time::Instant;

use anyhow::Context as _;
use mercato_tenants::StoreId;
use sqlx::PgPool;
use uuid::Uuid;

/// What a seed made.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub store: StoreId,
    pub products: i64,
    pub variants: i64,
    pub documents: u64,
    pub collections: Vec<Uuid>,
    /// Root categories (each with three children).
    pub categories: Vec<Uuid>,
    pub seconds: f64,
}

impl std::fmt::Display for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "store {}: {} products, {} variants, {} search documents, {} collections, {} categories in {:.1} s",
            self.store,
            self.products,
            self.variants,
            self.documents,
            self.collections.len(),
            self.categories.len() * 4,
            self.seconds
        )
    }
}

const VENDORS: &[&str] = &[
    "Acme",
    "Northwind",
    "Bluebird",
    "Fjord",
    "Cobalt",
    "Juniper",
    "Maple & Co",
    "Riverstone",
    "Sundial",
    "Harbor",
    "Tidewater",
    "Ember",
    "Atlas",
    "Wildflower",
    "Granite",
    "Saltmarsh",
    "Copperleaf",
    "Larkspur",
    "Moonrise",
    "Oakhill",
    "Pinecrest",
    "Quill",
    "Redwood",
    "Silverline",
    "Thistle",
    "Umber",
    "Vantage",
    "Willow",
    "Yarrow",
    "Zephyr",
];
const TYPES: &[&str] = &[
    "Shirt",
    "Dress",
    "Sweater",
    "Jacket",
    "Jeans",
    "Sneakers",
    "Boots",
    "Hat",
    "Scarf",
    "Bag",
    "Belt",
    "Watch",
    "Sunglasses",
    "Socks",
    "Shorts",
    "Skirt",
    "Hoodie",
    "Coat",
    "Blouse",
    "Vest",
    "Gloves",
    "Sandals",
    "Backpack",
    "Wallet",
    "Cap",
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Vintage",
    "Slim",
    "Relaxed",
    "Organic",
    "Linen",
    "Cotton",
    "Wool",
    "Leather",
    "Denim",
    "Summer",
    "Winter",
    "Everyday",
    "Premium",
    "Lightweight",
    "Waterproof",
    "Striped",
    "Plain",
    "Floral",
    "Oversized",
    "Tailored",
    "Cropped",
    "Quilted",
    "Knitted",
    "Recycled",
];
const COLOURS: &[&str] = &[
    "Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Beige", "Pink", "Yellow", "Olive",
    "Brown", "Teal", "Burgundy", "Cream",
];
const TAGS: &[&str] = &[
    "summer",
    "winter",
    "sale",
    "new",
    "organic",
    "bestseller",
    "eco",
    "limited",
    "gift",
    "basics",
    "outdoor",
    "party",
    "work",
    "travel",
    "vegan",
    "handmade",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "to", "ne", "vi", "sa", "do", "ru", "be", "li", "zo", "fa", "ge", "no",
];
const COLLECTIONS: &[&str] = &[
    "Summer Sale",
    "New Arrivals",
    "Best Sellers",
    "Gift Guide",
    "Workwear",
    "Outdoor Edit",
    "Eco Picks",
    "Last Chance",
];
const CATEGORIES: &[(&str, [&str; 3])] = &[
    (
        "Women",
        ["Women's Tops", "Women's Bottoms", "Women's Outerwear"],
    ),
    ("Men", ["Men's Tops", "Men's Bottoms", "Men's Outerwear"]),
    ("Kids", ["Kids' Tops", "Kids' Bottoms", "Kids' Shoes"]),
    ("Accessories", ["Bags", "Jewellery", "Small Goods"]),
];

fn texts(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Fills `store` with `n` products in a handful of set-based statements in
/// one transaction, then rebuilds its search documents. Choices are derived
/// from `hashtext` of the product's ordinal, so a seed is reproducible.
pub async fn catalog(db: &PgPool, store: StoreId, n: u32) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let n = n as usize;
    let products: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let variants: Vec<Uuid> = (0..n * 4).map(|_| Uuid::now_v7()).collect();
    let collections: Vec<Uuid> = COLLECTIONS.iter().map(|_| Uuid::now_v7()).collect();
    let roots: Vec<Uuid> = CATEGORIES.iter().map(|_| Uuid::now_v7()).collect();
    let leaves: Vec<Uuid> = (0..CATEGORIES.len() * 3).map(|_| Uuid::now_v7()).collect();
    let s = store.as_uuid();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO collections (store_id, id, handle, title, kind, sort_order)
         SELECT $1, id, lower(regexp_replace(title, '[^A-Za-z]+', '-', 'g')) || '-' || left(id::text, 8),
                title, 'manual', 'best_selling'
           FROM unnest($2::uuid[], $3::text[]) AS c(id, title)",
    )
    .bind(s)
    .bind(&collections)
    .bind(texts(COLLECTIONS))
    .execute(&mut *tx)
    .await?;
    let root_names: Vec<String> = CATEGORIES.iter().map(|(r, _)| r.to_string()).collect();
    let leaf_names: Vec<String> = CATEGORIES
        .iter()
        .flat_map(|(_, l)| l.iter().map(|s| s.to_string()))
        .collect();
    let leaf_parents: Vec<Uuid> = roots.iter().flat_map(|r| [*r; 3]).collect();
    sqlx::query(
        "INSERT INTO categories (store_id, id, parent_id, handle, name, position)
         SELECT $1, id, parent, lower(regexp_replace(name, '[^A-Za-z]+', '-', 'g')) || '-' || left(id::text, 8),
                name, ord::int
           FROM unnest($2::uuid[], $3::uuid[], $4::text[]) WITH ORDINALITY AS c(id, parent, name, ord)",
    )
    .bind(s)
    .bind(roots.iter().chain(&leaves).copied().collect::<Vec<_>>())
    .bind(
        roots
            .iter()
            .map(|_| None)
            .chain(leaf_parents.iter().map(|p| Some(*p)))
            .collect::<Vec<Option<Uuid>>>(),
    )
    .bind(root_names.into_iter().chain(leaf_names).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    // h(i, k): a reproducible non-negative pseudo-random int per product
    // and purpose.
    sqlx::query(
        r#"
        CREATE TEMP TABLE seed_products ON COMMIT DROP AS
        SELECT id, i,
               abs(hashtext(i || ':v')) AS hv, abs(hashtext(i || ':t')) AS ht,
               abs(hashtext(i || ':a')) AS ha, abs(hashtext(i || ':c')) AS hc,
               abs(hashtext(i || ':g')) AS hg, abs(hashtext(i || ':n')) AS hn,
               abs(hashtext(i || ':p')) AS hp, abs(hashtext(i || ':s')) AS hs
          FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, i)
        "#,
    )
    .bind(&products)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r#"
        INSERT INTO products (store_id, id, title, description, status, vendor, product_type,
                              tags, options, created_at, updated_at)
        SELECT $1, p.id,
               adj || ' ' || colour || ' ' || typ || ' ' || initcap(model),
               'A ' || lower(adj) || ' ' || lower(typ) || ' by ' || vendor || ' in ' || lower(colour)
                   || '. Made to last, easy to care for, and cut for comfort. Model ' || initcap(model) || '.',
               CASE WHEN p.hs % 100 < 95 THEN 'active' WHEN p.hs % 100 < 99 THEN 'draft' ELSE 'archived' END,
               vendor, typ,
               ARRAY(SELECT DISTINCT ($5::text[])[1 + (p.hg / d) % array_length($5::text[], 1)]
                       FROM unnest(ARRAY[1, 17, 289]) d
                      LIMIT 1 + p.hg % 3),
               jsonb_build_array(
                   jsonb_build_object('name', 'Size', 'values', '["XS","S","M","L","XL"]'::jsonb),
                   jsonb_build_object('name', 'Colour', 'values', jsonb_build_array(colour))),
               now() - make_interval(mins => ($8 - p.i)::int),
               now()
          FROM seed_products p,
               LATERAL (SELECT
                   ($2::text[])[1 + p.hv % array_length($2::text[], 1)] AS vendor,
                   ($3::text[])[1 + p.ht % array_length($3::text[], 1)] AS typ,
                   ($4::text[])[1 + p.ha % array_length($4::text[], 1)] AS adj,
                   ($6::text[])[1 + p.hc % array_length($6::text[], 1)] AS colour,
                   ($7::text[])[1 + p.hn % 16] || ($7::text[])[1 + (p.hn / 16) % 16]
                       || ($7::text[])[1 + (p.hn / 256) % 16] AS model
               ) x
        "#,
    )
    .bind(s)
    .bind(texts(VENDORS))
    .bind(texts(TYPES))
    .bind(texts(ADJECTIVES))
    .bind(texts(TAGS))
    .bind(texts(COLOURS))
    .bind(texts(SYLLABLES))
    .bind(n as i64)
    .execute(&mut *tx)
    .await?;
    // 1 to 4 variants per product, one size each.
    sqlx::query(
        r#"
        INSERT INTO variants (store_id, id, product_id, sku, title, price_minor, currency, position,
                              option_values)
        SELECT $1, ($2::uuid[])[(p.i - 1) * 4 + j], p.id,
               'SKU-' || p.i || '-' || j,
               size || ' / ' || (pr.options -> 1 -> 'values' ->> 0),
               (500 + (p.hp % 60) * 250 + (j - 1) * 200)::bigint,
               'USD', j - 1,
               jsonb_build_object('Size', size, 'Colour', pr.options -> 1 -> 'values' ->> 0)
          FROM seed_products p
          JOIN products pr ON pr.store_id = $1 AND pr.id = p.id
          CROSS JOIN LATERAL generate_series(1, 1 + p.hp % 4) j
          CROSS JOIN LATERAL (SELECT (ARRAY['XS','S','M','L','XL'])[1 + (p.hp / 7 + j) % 5] AS size) z
        "#,
    )
    .bind(s)
    .bind(&variants)
    .execute(&mut *tx)
    .await?;
    // About one variant in six sold out.
    sqlx::query(
        "INSERT INTO inventory_levels (store_id, variant_id, on_hand)
         SELECT $1, v.id, greatest(0, abs(hashtext(v.sku)) % 36 - 6)
           FROM variants v WHERE v.store_id = $1",
    )
    .bind(s)
    .execute(&mut *tx)
    .await?;
    // The same units at the store's default location (what checkout sells).
    let location = crate::inventory::ensure_default_location(&mut tx, store).await?;
    sqlx::query(
        "INSERT INTO stock_levels (store_id, variant_id, location_id, on_hand, reserved)
         SELECT store_id, variant_id, $2, on_hand, 0 FROM inventory_levels WHERE store_id = $1",
    )
    .bind(s)
    .bind(location.as_uuid())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO product_sales (store_id, product_id, units_sold)
         SELECT $1, p.id, (p.hs / 100) % 5000 FROM seed_products p WHERE p.hs % 10 < 7",
    )
    .bind(s)
    .execute(&mut *tx)
    .await?;
    // Each product in one or two collections of eight; one leaf category.
    sqlx::query(
        "INSERT INTO collection_products (store_id, collection_id, product_id, position)
         SELECT DISTINCT ON (c, p.id) $1, ($2::uuid[])[c], p.id, p.i
           FROM seed_products p,
                LATERAL (VALUES (1 + p.hc % 8), (1 + p.ha % 8)) AS cs(c)
          WHERE p.hg % 3 > 0 OR cs.c = 1 + p.hc % 8",
    )
    .bind(s)
    .bind(&collections)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO product_categories (store_id, product_id, category_id)
         SELECT $1, p.id, ($2::uuid[])[1 + p.ht % 12] FROM seed_products p",
    )
    .bind(s)
    .bind(&leaves)
    .execute(&mut *tx)
    .await?;
    let documents = crate::search::reindex_store(&mut tx, store).await?;
    tx.commit().await?;
    // Merges GIN pending lists and refreshes statistics.
    sqlx::query("VACUUM ANALYZE")
        .execute(db)
        .await
        .context("vacuum analyze")?;
    let (products, variants): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM products WHERE store_id = $1),
                (SELECT count(*) FROM variants WHERE store_id = $1)",
    )
    .bind(s)
    .fetch_one(db)
    .await?;
    Ok(Seeded {
        store,
        products,
        variants,
        documents,
        collections,
        categories: roots,
        seconds: started.elapsed().as_secs_f64(),
    })
}
