//! Operator tools for load: `mercato seed-catalog` fills a store with a
//! realistic catalog straight in a pod's Postgres (set-based SQL, not HTTP
//! calls), and `mercato bench ...` drives real load against a throwaway
//! platform and writes the results to `docs/benchmarks/`.
//!
//! Not tests: nothing here runs in CI.

pub mod cache;
pub mod checkout;
pub mod loadgen;
pub mod moves;
pub mod search;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use mercato_tenants::StoreId;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use uuid::Uuid;

/// Runs `measure(router_url, data_dir)` against a whole platform of `pods`
/// pods started by `mercato up` (separate processes, as in production) on a
/// fresh data folder, with `env` added to its processes' environment; stops
/// it after.
pub async fn on_up<T, F, Fut>(
    port_base: u16,
    pods: u16,
    env: &[(&str, &str)],
    measure: F,
) -> anyhow::Result<T>
where
    F: FnOnce(String, PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut data = tempfile::tempdir()?;
    if std::env::var_os("MERCATO_BENCH_KEEP").is_some() {
        // Keep the platform's data and logs for a look afterwards.
        data.disable_cleanup(true);
        eprintln!("platform data and logs kept in {}", data.path().display());
    }
    let router_port = crate::local::free_port()?;
    let exe = std::env::current_exe()?;
    let mut up = tokio::process::Command::new(&exe)
        .arg("up")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", &format!("127.0.0.1:{router_port}")])
        .args(["--port-base", &port_base.to_string()])
        .args([
            "--pods",
            &pods.to_string(),
            "--platform-domain",
            "localhost",
        ])
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting mercato up")?;
    let result = measure(
        format!("http://127.0.0.1:{router_port}"),
        data.path().to_owned(),
    )
    .await;
    if let Some(pid) = up.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), up.wait()).await;
    result
}

#[derive(clap::Args, Debug, Clone)]
pub struct SeedArgs {
    /// The pod's database (migrations are applied if missing).
    #[arg(long, env = "MERCATO_POD_DATABASE_URL")]
    pub database_url: String,
    /// The store to fill; by default a new store `bench-<n>` is hosted
    /// (active) in this pod's database.
    #[arg(long)]
    pub store: Option<StoreId>,
    /// How many products.
    #[arg(long, default_value_t = 100_000)]
    pub products: u32,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Bench {
    /// Search latency and throughput on a seeded catalog, on a throwaway
    /// Postgres, Redis and pod started on free ports.
    Search(search::SearchArgs),
    /// A cached product read through the router against the router's
    /// `/healthz`, on a platform started with `mercato up`.
    Cache(cache::CacheArgs),
    /// A flash sale (Redis gate on and off) and checkout throughput, on a
    /// platform started with `mercato up`.
    Checkout(checkout::CheckoutArgs),
    /// A live move of a generated store between two pods under a write
    /// load, beside a plain per-table COPY of the same rows, on a platform
    /// started with `mercato up`.
    Move(moves::MoveArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchOut {
    /// Where to write the Markdown report.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mercato seed-catalog`.
pub async fn seed_catalog(args: SeedArgs) -> anyhow::Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await
        .context("connecting to the pod database")?;
    sqlx::migrate!("./migrations/pod")
        .run(&db)
        .await
        .context("applying pod migrations")?;
    let store = match args.store {
        Some(s) => s,
        None => {
            let s = StoreId::new();
            host_directly(&db, s).await?;
            s
        }
    };
    let summary = seed(&db, store, args.products).await?;
    println!("{summary}");
    Ok(())
}

async fn host_directly(db: &PgPool, store: StoreId) -> anyhow::Result<()> {
    let handle = format!("bench-{}", &store.to_string()[..8]);
    sqlx::query(
        "INSERT INTO hosted_stores (store_id, handle, name, currency, state)
         VALUES ($1, $2, 'Bench Store', 'USD', 'active')",
    )
    .bind(store.as_uuid())
    .bind(&handle)
    .execute(db)
    .await?;
    println!("hosted store {store} ({handle}) in this pod's database");
    Ok(())
}

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
pub async fn seed(db: &PgPool, store: StoreId, n: u32) -> anyhow::Result<Seeded> {
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
    let location = mercato_pod::inventory::ensure_default_location(&mut tx, store).await?;
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
    let documents = mercato_pod::search::reindex_store(&mut tx, store).await?;
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

/// Fills `store` with `orders` past orders the way checkout leaves them,
/// in one transaction of set-based statements over the store's active
/// variants (seed the catalog first): one customer (with an address) per
/// four orders, per order a converted cart with its lines, the completed
/// checkout, the paid order with 1 to 3 lines and two history rows, a
/// committed hold and a stock adjustment per line, a published outbox
/// event and a handled webhook. The store's order counter follows.
pub async fn seed_orders(db: &PgPool, store: StoreId, orders: u32) -> anyhow::Result<()> {
    if orders == 0 {
        return Ok(());
    }
    let s = store.as_uuid();
    let n = orders as i32;
    let mut tx = db.begin().await?;
    let location = mercato_pod::inventory::ensure_default_location(&mut tx, store).await?;
    // UUIDv7-shaped ids (time-ordered by `ts`, random tail) like the
    // application's own.
    sqlx::query(
        r#"CREATE OR REPLACE FUNCTION pg_temp.bench_uuid7(ts timestamptz) RETURNS uuid
           LANGUAGE sql VOLATILE AS $$
           SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
                   || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid
             FROM (SELECT md5(random()::text) AS h) r $$"#,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE bench_variants ON COMMIT DROP AS
         SELECT row_number() OVER (ORDER BY v.id) AS k, v.id, v.product_id, v.sku,
                p.title, v.title AS variant_title, v.price_minor
           FROM variants v JOIN products p ON p.store_id = v.store_id AND p.id = v.product_id
          WHERE v.store_id = $1 AND p.status = 'active'",
    )
    .bind(s)
    .execute(&mut *tx)
    .await?;
    let (variants,): (i64,) = sqlx::query_as("SELECT count(*) FROM bench_variants")
        .fetch_one(&mut *tx)
        .await?;
    anyhow::ensure!(
        variants >= 3,
        "orders need at least 3 active variants, the store has {variants}"
    );
    sqlx::query(
        "CREATE TEMP TABLE bench_customers ON COMMIT DROP AS
         SELECT k, pg_temp.bench_uuid7(ts) AS id, ts, 'customer' || k || '@bench.example' AS email,
                (ARRAY['Ada','Ben','Cleo','Dev','Eli','Fay','Gus','Hana','Ivo','Jun','Kai','Lea'])[1 + k % 12] AS first_name,
                (ARRAY['Stone','Reed','Marsh','Vale','Frost','Lund','Park','Quinn','Rowe','Shaw','Tate','Webb'])[1 + (k / 12) % 12] AS last_name
           FROM generate_series(1, $1 / 4) k,
                LATERAL (SELECT now() - make_interval(mins => ($1 - 4 * k)::int) AS ts) t",
    )
    .bind(n)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO customers (store_id, id, email, password_hash, first_name, last_name,
                                accepts_marketing, created_at, updated_at)
         SELECT $1, id, email, '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2g$bm90LWEtcmVhbC1oYXNo',
                first_name, last_name, k % 3 = 0, ts, ts
           FROM bench_customers",
    )
    .bind(s)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO customer_addresses (store_id, id, customer_id, name, line1, city, region,
                                         postal_code, country, is_default, created_at, updated_at)
         SELECT $1, pg_temp.bench_uuid7(ts), id, first_name || ' ' || last_name,
                (k % 900 + 1) || ' Main St', 'Springfield', 'IL', '62701', 'US', true, ts, ts
           FROM bench_customers",
    )
    .bind(s)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE bench_orders ON COMMIT DROP AS
         SELECT i, t.ts, abs(hashtext(i || ':o')) AS h,
                pg_temp.bench_uuid7(t.ts) AS order_id, pg_temp.bench_uuid7(t.ts) AS checkout_id,
                pg_temp.bench_uuid7(t.ts) AS cart_id, c.id AS customer_id,
                coalesce(c.email, 'guest' || i || '@bench.example') AS email
           FROM generate_series(1, $1) i
          CROSS JOIN LATERAL (SELECT now() - make_interval(mins => ($1 - i)::int) AS ts) t
           LEFT JOIN bench_customers c ON i % 4 = 0 AND c.k = i / 4",
    )
    .bind(n)
    .execute(&mut *tx)
    .await?;
    // 1 to 3 lines of distinct variants, 1 or 2 units each.
    sqlx::query(
        "CREATE TEMP TABLE bench_lines ON COMMIT DROP AS
         SELECT o.i, o.order_id, o.checkout_id, o.cart_id, o.ts, j AS position,
                v.id AS variant_id, v.product_id, v.sku, v.title, v.variant_title,
                1 + (o.h / 3 + j) % 2 AS quantity, v.price_minor
           FROM bench_orders o
          CROSS JOIN LATERAL generate_series(1, 1 + o.h % 3) j
           JOIN bench_variants v ON v.k = 1 + (o.h % $1 + j - 1) % $1",
    )
    .bind(variants)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE bench_totals ON COMMIT DROP AS
         SELECT o.*, t.subtotal
           FROM bench_orders o
           JOIN (SELECT i, sum(quantity * price_minor)::bigint AS subtotal FROM bench_lines GROUP BY i) t
          USING (i)",
    )
    .execute(&mut *tx)
    .await?;
    let statements = [
        "INSERT INTO carts (store_id, id, customer_id, token_hash, status, currency, version,
                            created_at, updated_at)
         SELECT $1, cart_id, customer_id,
                CASE WHEN customer_id IS NULL THEN sha256(convert_to(cart_id::text, 'UTF8')) END,
                'converted', 'USD', 3, ts, ts
           FROM bench_orders",
        "INSERT INTO cart_lines (store_id, cart_id, variant_id, product_id, sku, title, variant_title,
                                 quantity, unit_price_minor, currency, added_at, updated_at)
         SELECT $1, cart_id, variant_id, product_id, sku, title, variant_title, quantity,
                price_minor, 'USD', ts, ts
           FROM bench_lines",
        "INSERT INTO checkouts (store_id, id, idempotency_key, request_hash, cart_id, customer_id,
                                state, steps, quote, payment_token, payment_id, order_id,
                                outcome_status, outcome, attempts, created_at, updated_at)
         SELECT $1, checkout_id, 'bench-' || i, sha256(convert_to(checkout_id::text, 'UTF8')),
                cart_id, customer_id, 'completed', '{reserved,authorized,ordered,captured}',
                jsonb_build_object('subtotal_minor', subtotal, 'shipping_minor', 500, 'tax_minor', 0,
                                   'total_minor', subtotal + 500, 'currency', 'USD'),
                'tok_bench', 'pay_bench_' || i, order_id, 201,
                jsonb_build_object('id', order_id, 'number', 1000 + i), 1, ts, ts
           FROM bench_totals",
        "INSERT INTO orders (store_id, id, number, checkout_id, customer_id, email, status, currency,
                             subtotal_minor, shipping_minor, tax_minor, total_minor, shipping_option,
                             shipping_address, payment_id, captured_minor, created_at, updated_at)
         SELECT $1, order_id, 1000 + i, checkout_id, customer_id, email,
                CASE h % 10 WHEN 0 THEN 'delivered' WHEN 1 THEN 'shipped' ELSE 'paid' END, 'USD',
                subtotal, 500, 0, subtotal + 500,
                '{\"code\": \"standard\", \"name\": \"Standard\", \"price_minor\": 500}',
                jsonb_build_object('name', 'Bench Shopper', 'line1', (i % 900 + 1) || ' Main St',
                                   'city', 'Springfield', 'postal_code', '62701', 'country', 'US'),
                'pay_bench_' || i, subtotal + 500, ts, ts
           FROM bench_totals",
        "INSERT INTO order_lines (store_id, order_id, position, variant_id, product_id, sku, title,
                                  variant_title, quantity, unit_price_minor)
         SELECT $1, order_id, position, variant_id, product_id, sku, title, variant_title, quantity,
                price_minor
           FROM bench_lines",
        "INSERT INTO order_history (store_id, order_id, id, from_status, to_status, actor, at)
         SELECT $1, order_id, pg_temp.bench_uuid7(ts), NULL, 'placed', 'system', ts FROM bench_orders
         UNION ALL
         SELECT $1, order_id, pg_temp.bench_uuid7(ts + interval '1 second'), 'placed', 'paid', 'system',
                ts + interval '1 second'
           FROM bench_orders",
        "INSERT INTO holds (store_id, id, owner, variant_id, location_id, quantity, status, expires_at,
                            created_at, updated_at)
         SELECT $1, pg_temp.bench_uuid7(ts), checkout_id, variant_id, $2, quantity, 'committed', NULL,
                ts, ts
           FROM bench_lines",
        "INSERT INTO stock_adjustments (store_id, id, variant_id, location_id, delta, on_hand_after,
                                        reason, actor, reference, created_at)
         SELECT $1, pg_temp.bench_uuid7(ts), variant_id, $2, -quantity, 10 + i % 20, 'order', 'system',
                checkout_id, ts
           FROM bench_lines",
        "INSERT INTO outbox (store_id, id, type, aggregate_id, occurred_at, payload, published_at)
         SELECT $1, pg_temp.bench_uuid7(ts), 'order.placed', order_id, ts,
                jsonb_build_object('order_id', order_id, 'number', 1000 + i,
                                   'total_minor', subtotal + 500, 'currency', 'USD'),
                ts
           FROM bench_totals",
        "INSERT INTO webhook_events (store_id, id, type, received_at)
         SELECT $1, 'evt_bench_' || i, 'payment.captured', ts FROM bench_orders",
    ];
    for sql in statements {
        // The default location is $2 where a statement needs it.
        let q = sqlx::query(sql).bind(s);
        let q = if sql.contains("$2") {
            q.bind(location.as_uuid())
        } else {
            q
        };
        q.execute(&mut *tx)
            .await
            .with_context(|| format!("seeding orders: {}", first_line(sql)))?;
    }
    sqlx::query(
        "INSERT INTO store_counters (store_id, next_order_number) VALUES ($1, $2)
         ON CONFLICT (store_id) DO UPDATE
            SET next_order_number = greatest(store_counters.next_order_number, EXCLUDED.next_order_number)",
    )
    .bind(s)
    .bind(1001 + orders as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("VACUUM ANALYZE")
        .execute(db)
        .await
        .context("vacuum analyze")?;
    Ok(())
}

fn first_line(sql: &str) -> &str {
    sql.lines().next().unwrap_or(sql).trim()
}

/// The store's rows in every tenant table (every table with a `store_id`
/// column), by table name.
pub async fn store_rows(db: &PgPool, store: StoreId) -> anyhow::Result<Vec<(String, i64)>> {
    let tables: Vec<(String,)> = sqlx::query_as(mercato_tenants::TENANT_TABLES_SQL)
        .fetch_all(db)
        .await?;
    let mut counts = Vec::with_capacity(tables.len());
    for (table,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM \"{}\" WHERE store_id = $1",
            table.replace('"', "\"\"")
        ))
        .bind(store.as_uuid())
        .fetch_one(db)
        .await?;
        counts.push((table, n));
    }
    Ok(counts)
}
