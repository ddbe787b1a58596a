//! Search through the router: ranking, prefixes, typos, filters, exact
//! facet counts, sorts, pagination, freshness after catalog writes, drafts,
//! store isolation and bad parameters.
//!
//! Products are created through `POST /admin/api/products`; vendor, type,
//! tags, option values, collections, categories and sales are set with SQL
//! in the pod's database, followed by `search::reindex` through the pod's
//! pool (the staff API for them is being written elsewhere).

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{error_code, Stack};
use mercato_tenants::{ProductId, StoreId};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

struct Shop<'a> {
    stack: &'a Stack,
    host: String,
    token: String,
    store: Uuid,
    db: PgPool,
}

impl<'a> Shop<'a> {
    async fn open(stack: &'a Stack, handle: &str) -> Shop<'a> {
        let store = stack.create_store(handle).await;
        let token = stack.staff_token(&store);
        let db = PgPool::connect(&stack.pod_for(&store).await.database_url)
            .await
            .expect("pod db");
        Shop {
            stack,
            host: format!("{handle}.localhost"),
            token,
            store: store["id"].as_str().expect("id").parse().expect("uuid"),
            db,
        }
    }

    /// Creates a product with one variant per `(sku, price)`; returns its id
    /// and its variant ids.
    async fn product(
        &self,
        title: &str,
        status: &str,
        variants: &[(&str, i64)],
    ) -> (Uuid, Vec<Uuid>) {
        let variants: Vec<Value> = variants
            .iter()
            .map(|(sku, price)| json!({"sku": sku, "price_minor": price}))
            .collect();
        let r = self
            .stack
            .post(&self.host, "/admin/api/products")
            .bearer_auth(&self.token)
            .json(&json!({"title": title, "status": status, "variants": variants}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201, "creating {title}");
        let p: Value = r.json().await.expect("json");
        let id = p["id"].as_str().expect("id").parse().expect("uuid");
        let vs = p["variants"]
            .as_array()
            .expect("variants")
            .iter()
            .map(|v| v["id"].as_str().expect("id").parse().expect("uuid"))
            .collect();
        (id, vs)
    }

    async fn attrs(
        &self,
        product: Uuid,
        vendor: &str,
        ptype: &str,
        tags: &[&str],
        description: &str,
    ) {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let n = sqlx::query(
            "UPDATE products SET vendor = $3, product_type = $4, tags = $5, description = $6
             WHERE store_id = $1 AND id = $2",
        )
        .bind(self.store)
        .bind(product)
        .bind(vendor)
        .bind(ptype)
        .bind(&tags)
        .bind(description)
        .execute(&self.db)
        .await
        .expect("update product")
        .rows_affected();
        assert_eq!(n, 1);
    }

    async fn option(&self, variant: Uuid, name: &str, value: &str) {
        let n = sqlx::query(
            "UPDATE variants SET option_values = jsonb_build_object($3::text, $4::text)
             WHERE store_id = $1 AND id = $2",
        )
        .bind(self.store)
        .bind(variant)
        .bind(name)
        .bind(value)
        .execute(&self.db)
        .await
        .expect("update variant")
        .rows_affected();
        assert_eq!(n, 1);
    }

    async fn sql(&self, sql: &str, args: &[Uuid]) {
        let mut q = sqlx::query(sql).bind(self.store);
        for a in args {
            q = q.bind(*a);
        }
        q.execute(&self.db).await.expect(sql);
    }

    async fn reindex(&self, products: &[Uuid]) {
        let ids: Vec<ProductId> = products.iter().map(|p| ProductId::from_uuid(*p)).collect();
        let mut tx = self.db.begin().await.expect("tx");
        mercato_pod::search::reindex(&mut tx, StoreId::from_uuid(self.store), &ids)
            .await
            .expect("reindex");
        tx.commit().await.expect("commit");
    }

    async fn search(&self, query: &str) -> Value {
        let r = self
            .stack
            .get(&self.host, &format!("/api/search?{query}"))
            .send()
            .await
            .expect("search");
        assert_eq!(r.status(), 200, "search {query}");
        r.json().await.expect("json")
    }

    async fn error(&self, path: &str) -> (u16, String) {
        error_code(
            self.stack
                .get(&self.host, path)
                .send()
                .await
                .expect("request"),
        )
        .await
    }
}

fn ids(body: &Value) -> Vec<Uuid> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").parse().expect("uuid"))
        .collect()
}

fn set(v: &[Uuid]) -> HashSet<Uuid> {
    v.iter().copied().collect()
}

/// A facet list as value -> count.
fn facet(body: &Value, name: &str) -> BTreeMap<String, i64> {
    body["facets"][name]
        .as_array()
        .unwrap_or_else(|| panic!("facet {name}"))
        .iter()
        .map(|f| {
            (
                f["value"].as_str().expect("value").to_owned(),
                f["count"].as_i64().expect("count"),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Follows `next_cursor` from `query` to the end, `limit` at a time.
async fn all_pages(shop: &Shop<'_>, query: &str, limit: u32) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let q = match &after {
            Some(a) => format!("{query}&limit={limit}&after={a}"),
            None => format!("{query}&limit={limit}"),
        };
        let body = shop.search(&q).await;
        let page = ids(&body);
        assert!(page.len() <= limit as usize);
        out.extend(page);
        match body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn search_ranks_filters_counts_sorts_and_pages() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "shop").await;

    let (shirt, shirt_v) = shop
        .product(
            "Blue Cotton Shirt",
            "active",
            &[("SH-1-S", 2500), ("SH-1-M", 2700)],
        )
        .await;
    let (dress, dress_v) = shop
        .product("Red Summer Dress", "active", &[("DR-1", 5000)])
        .await;
    let (sweater, sweater_v) = shop
        .product("Wool Sweater", "active", &[("SW-1", 8000)])
        .await;
    let (linen, linen_v) = shop
        .product("Linen Shirt", "active", &[("LI-1", 1500)])
        .await;
    let (draft, _) = shop.product("Draft Shirt", "draft", &[("DS-1", 100)]).await;

    shop.attrs(shirt, "Acme", "Shirt", &["summer", "cotton"], "")
        .await;
    shop.attrs(dress, "Bella", "Dress", &["summer"], "").await;
    shop.attrs(
        sweater,
        "Acme",
        "Sweater",
        &["winter"],
        "Warm; goes well over a shirt.",
    )
    .await;
    shop.attrs(linen, "Bella", "Shirt", &["summer", "linen"], "")
        .await;
    shop.option(shirt_v[0], "Size", "S").await;
    shop.option(shirt_v[1], "Size", "M").await;
    shop.option(dress_v[0], "Size", "M").await;
    shop.option(sweater_v[0], "Size", "L").await;
    shop.option(linen_v[0], "Size", "S").await;
    let (summer, parent, child) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    shop.sql(
        "INSERT INTO collections (store_id, id, handle, title, kind, sort_order)
         VALUES ($1, $2, 'summer', 'Summer', 'manual', 'manual')",
        &[summer],
    )
    .await;
    for (p, pos) in [(shirt, 1), (dress, 2)] {
        sqlx::query(
            "INSERT INTO collection_products (store_id, collection_id, product_id, position)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(shop.store)
        .bind(summer)
        .bind(p)
        .bind(pos as i64)
        .execute(&shop.db)
        .await
        .expect("member");
    }
    shop.sql(
        "INSERT INTO categories (store_id, id, handle, name) VALUES ($1, $2, 'clothing', 'Clothing')",
        &[parent],
    )
    .await;
    shop.sql(
        "INSERT INTO categories (store_id, id, parent_id, handle, name) VALUES ($1, $2, $3, 'knitwear', 'Knitwear')",
        &[child, parent],
    )
    .await;
    shop.sql(
        "INSERT INTO product_categories (store_id, product_id, category_id) VALUES ($1, $2, $3)",
        &[sweater, child],
    )
    .await;
    shop.sql(
        "INSERT INTO product_categories (store_id, product_id, category_id) VALUES ($1, $2, $3)",
        &[linen, parent],
    )
    .await;
    for (p, n) in [(sweater, 10i64), (shirt, 5), (dress, 1)] {
        sqlx::query(
            "INSERT INTO product_sales (store_id, product_id, units_sold) VALUES ($1, $2, $3)",
        )
        .bind(shop.store)
        .bind(p)
        .bind(n)
        .execute(&shop.db)
        .await
        .expect("sales");
    }
    shop.reindex(&[shirt, dress, sweater, linen, draft]).await;

    // A word: both title matches rank above the description match; the
    // draft never shows.
    let body = shop.search("q=shirt").await;
    let found = ids(&body);
    assert_eq!(body["total"], 3);
    assert_eq!(set(&found[..2]), set(&[shirt, linen]));
    assert_eq!(found[2], sweater);
    assert_eq!(body["items"][2]["vendor"], "Acme");
    assert!(body.get("corrected_query").is_none());

    // A prefix, as typed so far.
    assert_eq!(ids(&shop.search("q=swea").await), vec![sweater]);
    assert_eq!(ids(&shop.search("q=red%20sum").await), vec![dress]);
    // A SKU.
    assert_eq!(ids(&shop.search("q=DR-1").await), vec![dress]);
    // A typo is corrected.
    let body = shop.search("q=shrit").await;
    assert_eq!(body["corrected_query"], "shirt");
    assert_eq!(set(&ids(&body)), set(&[shirt, linen, sweater]));
    let body = shop.search("q=swaeter").await;
    assert_eq!(ids(&body), vec![sweater]);
    assert_eq!(shop.search("q=zzzqqq").await["total"], 0);
    // A corrected word with a filter: the correction is decided on the
    // words alone, the filter then applies, and the counts follow it.
    let body = shop.search("q=shrit&vendor=Bella").await;
    assert_eq!(body["corrected_query"], "shirt");
    assert_eq!(ids(&body), vec![linen]);
    assert_eq!(body["total"], 1);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 2), ("Bella", 1)]));
    // Words matching nothing: no items, no counts, no correction.
    let body = shop.search("q=zzzqqq&vendor=Acme").await;
    assert_eq!(body["total"], 0);
    assert_eq!(facet(&body, "vendor"), counts(&[]));
    assert!(body.get("corrected_query").is_none());

    // Each filter narrows exactly.
    for (query, expected) in [
        ("vendor=Acme", vec![shirt, sweater]),
        ("type=Shirt", vec![shirt, linen]),
        ("tag=summer", vec![shirt, dress, linen]),
        ("tag=winter&tag=linen", vec![sweater, linen]),
        ("option=Size:M", vec![shirt, dress]),
        ("option=Size:M&option=Size:L", vec![shirt, dress, sweater]),
        ("price_min=2000&price_max=5000", vec![shirt, dress]),
        ("price_min=5001", vec![sweater]),
        ("price_max=1500", vec![linen]),
        (&format!("collection={summer}"), vec![shirt, dress]),
        (&format!("category={parent}"), vec![sweater, linen]),
        (&format!("category={child}"), vec![sweater]),
        ("vendor=Bella&tag=summer&type=Dress", vec![dress]),
        ("q=shirt&vendor=Bella", vec![linen]),
        ("in_stock=false", vec![shirt, dress, sweater, linen]),
        ("in_stock=true", vec![]),
    ] {
        let body = shop.search(query).await;
        assert_eq!(set(&ids(&body)), set(&expected), "{query}");
        assert_eq!(body["total"], expected.len() as i64, "{query}");
    }

    // Facet counts over all active products.
    let body = shop.search("").await;
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 2), ("Bella", 2)]));
    assert_eq!(
        facet(&body, "product_type"),
        counts(&[("Dress", 1), ("Shirt", 2), ("Sweater", 1)])
    );
    assert_eq!(
        facet(&body, "tag"),
        counts(&[("cotton", 1), ("linen", 1), ("summer", 3), ("winter", 1)])
    );
    let sizes: BTreeMap<String, i64> = body["facets"]["option"]["Size"]
        .as_array()
        .expect("sizes")
        .iter()
        .map(|f| {
            (
                f["value"].as_str().expect("v").to_owned(),
                f["count"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(sizes, counts(&[("L", 1), ("M", 2), ("S", 2)]));
    assert_eq!(
        facet(&body, "collection"),
        counts(&[(&summer.to_string(), 2)])
    );
    assert_eq!(body["facets"]["collection"][0]["label"], "Summer");
    assert_eq!(
        facet(&body, "category"),
        counts(&[(&parent.to_string(), 2), (&child.to_string(), 1)])
    );
    let price: Vec<i64> = body["facets"]["price"]
        .as_array()
        .expect("price")
        .iter()
        .map(|b| b["count"].as_i64().expect("count"))
        .collect();
    assert_eq!(price, vec![0, 1, 1, 2, 0, 0, 0]);
    assert_eq!(body["facets"]["price"][1]["min"], 1000);
    assert_eq!(body["facets"]["price"][1]["max"], 2500);
    assert_eq!(body["facets"]["in_stock"], json!({"true": 0, "false": 4}));
    assert_eq!(body["total"], 4);

    // Disjunctive: each facet ignores its own filter, applies the others.
    let body = shop.search("vendor=Acme&type=Shirt").await;
    assert_eq!(ids(&body), vec![shirt]);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 1), ("Bella", 1)]));
    assert_eq!(
        facet(&body, "product_type"),
        counts(&[("Shirt", 1), ("Sweater", 1)])
    );
    assert_eq!(facet(&body, "tag"), counts(&[("cotton", 1), ("summer", 1)]));
    assert_eq!(body["total"], 1);

    // Sorts.
    assert_eq!(
        ids(&shop.search("sort=price_asc").await),
        vec![linen, shirt, dress, sweater]
    );
    assert_eq!(
        ids(&shop.search("sort=price_desc").await),
        vec![sweater, dress, shirt, linen]
    );
    assert_eq!(
        ids(&shop.search("").await),
        vec![linen, sweater, dress, shirt]
    );
    assert_eq!(
        ids(&shop.search("sort=newest").await),
        vec![linen, sweater, dress, shirt]
    );
    assert_eq!(
        ids(&shop.search("sort=best_selling").await),
        vec![sweater, shirt, dress, linen]
    );
    let body = shop.search("sort=price_asc").await;
    assert_eq!(
        body["items"][1]["price_min"],
        json!({"minor": 2500, "currency": "USD"})
    );
    assert_eq!(
        body["items"][1]["price_max"],
        json!({"minor": 2700, "currency": "USD"})
    );

    // Pagination covers everything once, in order, whatever the sort.
    for (query, expected) in [
        ("sort=price_asc", vec![linen, shirt, dress, sweater]),
        ("sort=price_desc", vec![sweater, dress, shirt, linen]),
        ("sort=newest", vec![linen, sweater, dress, shirt]),
        ("sort=best_selling", vec![sweater, shirt, dress, linen]),
    ] {
        assert_eq!(all_pages(&shop, query, 1).await, expected, "{query}");
        assert_eq!(all_pages(&shop, query, 3).await, expected, "{query}");
    }
    let by_relevance = all_pages(&shop, "q=shirt", 1).await;
    assert_eq!(by_relevance.len(), 3);
    assert_eq!(set(&by_relevance), set(&[shirt, linen, sweater]));
    assert_eq!(by_relevance, ids(&shop.search("q=shirt").await));

    // Stock set by staff makes a product in stock at once.
    let r = stack
        .at(
            reqwest::Method::PUT,
            &shop.host,
            &format!("/admin/api/variants/{}/stock", dress_v[0]),
        )
        .bearer_auth(&shop.token)
        .json(&json!({"on_hand": 3}))
        .send()
        .await
        .expect("stock");
    assert_eq!(r.status(), 200);
    let body = shop.search("in_stock=true").await;
    assert_eq!(ids(&body), vec![dress]);
    assert_eq!(body["items"][0]["in_stock"], true);
    assert_eq!(body["facets"]["in_stock"], json!({"true": 1, "false": 3}));

    stack.shutdown().await;
}

#[tokio::test]
async fn saved_products_are_searchable_at_once_and_drafts_never() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "fresh").await;

    // Cached at the current generation; a save moves to the next one.
    assert_eq!(shop.search("q=kettle").await["total"], 0);
    let (kettle, _) = shop
        .product("Quantum Kettle", "active", &[("KT-1", 4000)])
        .await;
    assert_eq!(ids(&shop.search("q=kettle").await), vec![kettle]);

    assert_eq!(
        shop.patch(kettle, json!({"title": "Plasma Kettle"})).await,
        200
    );
    assert_eq!(ids(&shop.search("q=plasma").await), vec![kettle]);
    assert_eq!(shop.search("q=quantum").await["total"], 0);
    assert_eq!(ids(&shop.search("q=kettle").await), vec![kettle]);

    let r = stack
        .get(&shop.host, "/api/search/suggest?q=plas")
        .send()
        .await
        .expect("suggest");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["suggestions"],
        json!([{"product_id": kettle, "title": "Plasma Kettle"}])
    );
    let body: Value = stack
        .get(&shop.host, "/api/search/suggest?q=ketle")
        .send()
        .await
        .expect("suggest")
        .json()
        .await
        .expect("json");
    assert_eq!(body["suggestions"][0]["title"], "Plasma Kettle");

    // Drafts never appear, and a product taken back to draft disappears.
    let (hidden, _) = shop
        .product("Hidden Kettle", "draft", &[("KT-2", 100)])
        .await;
    let body = shop.search("q=kettle").await;
    assert_eq!(ids(&body), vec![kettle]);
    assert!(!ids(&shop.search("").await).contains(&hidden));
    assert_eq!(shop.patch(kettle, json!({"status": "draft"})).await, 200);
    assert_eq!(shop.search("q=kettle").await["total"], 0);
    assert_eq!(shop.search("").await["total"], 0);
    let body: Value = stack
        .get(&shop.host, "/api/search/suggest?q=kettle")
        .send()
        .await
        .expect("suggest")
        .json()
        .await
        .expect("json");
    assert_eq!(body["suggestions"], json!([]));

    stack.shutdown().await;
}

impl Shop<'_> {
    /// The store's search generation and the row version (xmin) of
    /// `product`'s document.
    async fn search_state(&self, product: Uuid) -> (i64, String) {
        sqlx::query_as(
            "SELECT g.generation, d.xmin::text
               FROM search_generations g
               JOIN search_documents d ON d.store_id = g.store_id
              WHERE g.store_id = $1 AND d.product_id = $2",
        )
        .bind(self.store)
        .bind(product)
        .fetch_one(&self.db)
        .await
        .expect("search state")
    }

    /// `PATCH /admin/api/products/{product}`: the answer's status.
    async fn patch(&self, product: Uuid, body: Value) -> u16 {
        self.stack
            .at(
                reqwest::Method::PATCH,
                &self.host,
                &format!("/admin/api/products/{product}"),
            )
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("patch")
            .status()
            .as_u16()
    }

    /// A staff stock write to `variant` (`path` after `/stock`).
    async fn stock(&self, method: reqwest::Method, variant: Uuid, path: &str, body: Value) {
        let r = self
            .stack
            .at(
                method,
                &self.host,
                &format!("/admin/api/variants/{variant}/stock{path}"),
            )
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("stock");
        assert_eq!(r.status(), 200, "stock{path}");
    }
}

/// A catalog write reindexes its products; when no document comes out
/// different, nothing is written and cached answers stay valid (the search
/// generation stays put). A stock change that leaves a product in stock
/// skips the reindex altogether; one that sells it out changes the
/// document.
#[tokio::test]
async fn a_write_that_changes_no_document_leaves_search_alone() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "still").await;
    let (kettle, variants) = shop
        .product("Copper Kettle", "active", &[("CK-1", 3000)])
        .await;
    let put = reqwest::Method::PUT;
    shop.stock(put.clone(), variants[0], "", json!({"on_hand": 3}))
        .await;
    assert_eq!(ids(&shop.search("in_stock=true").await), vec![kettle]);
    let before = shop.search_state(kettle).await;

    shop.stock(
        reqwest::Method::POST,
        variants[0],
        "/adjustments",
        json!({"delta": 1, "reason": "received"}),
    )
    .await;
    assert_eq!(shop.search_state(kettle).await, before);
    assert_eq!(ids(&shop.search("in_stock=true").await), vec![kettle]);

    // A product save that changes nothing searchable (it goes through the
    // reindex, unlike a stock change that keeps a product in stock).
    assert_eq!(
        shop.patch(kettle, json!({"title": "Copper Kettle"})).await,
        200
    );
    assert_eq!(shop.search_state(kettle).await, before);

    shop.stock(put, variants[0], "", json!({"on_hand": 0}))
        .await;
    let (generation, version) = shop.search_state(kettle).await;
    assert_eq!(generation, before.0 + 1);
    assert_ne!(version, before.1);
    assert_eq!(shop.search("in_stock=true").await["total"], 0);
    assert_eq!(ids(&shop.search("in_stock=false").await), vec![kettle]);

    stack.shutdown().await;
}

#[tokio::test]
async fn stores_never_see_each_other_and_bad_params_get_400() {
    let stack = Stack::start(1).await;
    let alpha = Shop::open(&stack, "alpha").await;
    let beta = Shop::open(&stack, "beta").await;
    let (a, _) = alpha
        .product("Alpha Lamp", "active", &[("SAME-1", 1000)])
        .await;
    let (b, _) = beta
        .product("Beta Lamp", "active", &[("SAME-1", 1000)])
        .await;

    assert_eq!(ids(&alpha.search("q=lamp").await), vec![a]);
    assert_eq!(ids(&beta.search("q=lamp").await), vec![b]);
    assert_eq!(ids(&alpha.search("q=SAME-1").await), vec![a]);
    assert_eq!(ids(&beta.search("q=SAME-1").await), vec![b]);
    assert_eq!(ids(&alpha.search("").await), vec![a]);
    assert_eq!(alpha.search("q=beta").await["total"], 0);
    assert_eq!(alpha.search("q=betta").await["total"], 0);
    let body: Value = stack
        .get(&alpha.host, "/api/search/suggest?q=lamp")
        .send()
        .await
        .expect("suggest")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["suggestions"],
        json!([{"product_id": a, "title": "Alpha Lamp"}])
    );

    // A cursor of one query's sort is refused by another sort.
    let body = alpha.search("sort=price_asc&limit=1").await;
    assert!(body["next_cursor"].is_null());
    let long = "x".repeat(201);
    let foreign = beta.search("q=lamp").await;
    assert_eq!(ids(&foreign), vec![b]);
    for (path, code) in [
        ("/api/search?limit=0", "invalid_request"),
        ("/api/search?limit=101", "invalid_request"),
        ("/api/search?limit=ten", "invalid_request"),
        ("/api/search?sort=cheapest", "invalid_request"),
        ("/api/search?price_min=12.50", "invalid_request"),
        ("/api/search?price_min=-5", "invalid_request"),
        ("/api/search?price_min=900&price_max=100", "invalid_request"),
        ("/api/search?in_stock=maybe", "invalid_request"),
        ("/api/search?option=Size", "invalid_request"),
        (&format!("/api/search?q={long}"), "invalid_request"),
        ("/api/search?collection=not-an-id", "invalid_id"),
        ("/api/search?category=42", "invalid_id"),
        ("/api/search?after=garbage", "invalid_request"),
        ("/api/search?colour=red", "invalid_request"),
        ("/api/search/suggest", "invalid_request"),
        ("/api/search/suggest?q=", "invalid_request"),
        (&format!("/api/search/suggest?q={long}"), "invalid_request"),
    ] {
        assert_eq!(alpha.error(path).await, (400, code.to_owned()), "{path}");
    }
    stack.shutdown().await;
}

/// `search_facet_counts` compared with a fresh aggregate over the store's
/// active documents: the precomputed browse counts must never drift.
async fn assert_counts_table_exact(shop: &Shop<'_>) {
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT token, n FROM search_facet_counts WHERE store_id = $1 AND n <> 0
             EXCEPT ALL
             SELECT t, count(*) FROM search_documents d,
                    unnest(search_tokens(d.facets, d.price_min, d.in_stock)) t
              WHERE d.store_id = $1 AND d.status = 'active' GROUP BY t
         ) x",
    )
    .bind(shop.store)
    .fetch_one(&shop.db)
    .await
    .expect("drift");
    assert_eq!(drift, 0);
    let negative: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM search_facet_counts WHERE store_id = $1 AND n < 0",
    )
    .bind(shop.store)
    .fetch_one(&shop.db)
    .await
    .expect("negative");
    assert_eq!(negative, 0);
    // search_facet_pairs, both ways: no stale pair, no missing pair.
    let drift: i64 = sqlx::query_scalar(
        "WITH fresh AS (
             SELECT f, t, count(*) AS n FROM search_documents d,
                    unnest(search_pair_filters(d.facets)) f, unnest(d.tokens) t
              WHERE d.store_id = $1 AND d.status = 'active' GROUP BY f, t
         ), kept AS (
             SELECT filter AS f, token AS t, n FROM search_facet_pairs
              WHERE store_id = $1 AND n <> 0
         )
         SELECT (SELECT count(*) FROM (SELECT * FROM kept EXCEPT ALL SELECT * FROM fresh) a)
              + (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT ALL SELECT * FROM kept) b)",
    )
    .bind(shop.store)
    .fetch_one(&shop.db)
    .await
    .expect("pair drift");
    assert_eq!(drift, 0);
    let pairs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM search_facet_pairs WHERE store_id = $1 AND n > 0")
            .bind(shop.store)
            .fetch_one(&shop.db)
            .await
            .expect("pairs");
    assert!(pairs > 0);
}

fn prices(body: &Value) -> Vec<i64> {
    body["facets"]["price"]
        .as_array()
        .expect("price")
        .iter()
        .map(|b| b["count"].as_i64().expect("count"))
        .collect()
}

#[tokio::test]
async fn browse_counts_stay_exact_through_edits_drafts_and_deletes() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "counts").await;
    let (a, _) = shop.product("Alpha Tee", "active", &[("A-1", 1500)]).await;
    let (b, _) = shop.product("Beta Tee", "active", &[("B-1", 3000)]).await;
    let (c, _) = shop.product("Gamma Coat", "active", &[("C-1", 6000)]).await;
    shop.attrs(a, "Acme", "Tee", &["summer"], "").await;
    shop.attrs(b, "Bella", "Tee", &["summer"], "").await;
    shop.attrs(c, "Acme", "Coat", &["winter"], "").await;
    shop.reindex(&[a, b, c]).await;
    assert_counts_table_exact(&shop).await;

    // Without words or filters: straight from the table.
    let body = shop.search("").await;
    assert_eq!(body["total"], 3);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 2), ("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("summer", 2), ("winter", 1)]));
    assert_eq!(prices(&body), vec![0, 1, 1, 1, 0, 0, 0]);

    // A price range covering every price filters nothing: same counts.
    let body = shop.search("price_max=1000000000000&price_min=0").await;
    assert_eq!(body["total"], 3);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 2), ("Bella", 1)]));
    assert_eq!(prices(&body), vec![0, 1, 1, 1, 0, 0, 0]);

    // A real price filter: the price facet ignores it, the others apply it.
    let body = shop.search("price_max=5000").await;
    assert_eq!(body["total"], 2);
    assert_eq!(set(&ids(&body)), set(&[a, b]));
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 1), ("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("summer", 2)]));
    assert_eq!(prices(&body), vec![0, 1, 1, 1, 0, 0, 0]);

    // One filter: its own group counts every product, the rest apply it.
    let body = shop.search("vendor=Acme").await;
    assert_eq!(body["total"], 2);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 2), ("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("summer", 1), ("winter", 1)]));
    assert_eq!(prices(&body), vec![0, 1, 0, 1, 0, 0, 0]);

    // Two filters: each group applies the other.
    let body = shop.search("vendor=Acme&tag=summer").await;
    assert_eq!(ids(&body), vec![a]);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 1), ("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("summer", 1), ("winter", 1)]));
    assert_eq!(facet(&body, "product_type"), counts(&[("Tee", 1)]));

    // A draft leaves the counts; an edit moves them; a delete removes them.
    let patch = |id: Uuid, body: Value| {
        stack
            .at(
                reqwest::Method::PATCH,
                &shop.host,
                &format!("/admin/api/products/{id}"),
            )
            .bearer_auth(&shop.token)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(b, json!({"status": "draft"}))
            .await
            .expect("patch")
            .status(),
        200
    );
    assert_eq!(
        patch(c, json!({"vendor": "Bella"}))
            .await
            .expect("patch")
            .status(),
        200
    );
    assert_counts_table_exact(&shop).await;
    let body = shop.search("").await;
    assert_eq!(body["total"], 2);
    assert_eq!(facet(&body, "vendor"), counts(&[("Acme", 1), ("Bella", 1)]));
    assert_eq!(prices(&body), vec![0, 1, 0, 1, 0, 0, 0]);

    let r = stack
        .at(
            reqwest::Method::DELETE,
            &shop.host,
            &format!("/admin/api/products/{a}"),
        )
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert_counts_table_exact(&shop).await;
    let body = shop.search("").await;
    assert_eq!(body["total"], 1);
    assert_eq!(ids(&body), vec![c]);
    assert_eq!(facet(&body, "vendor"), counts(&[("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("winter", 1)]));
    assert_eq!(prices(&body), vec![0, 0, 0, 1, 0, 0, 0]);

    // A one-filter browse after the edits (precomputed pair counts):
    // the draft and the deleted product are gone, the moved vendor counts.
    let body = shop.search("vendor=Bella").await;
    assert_eq!(ids(&body), vec![c]);
    assert_eq!(body["total"], 1);
    assert_eq!(facet(&body, "vendor"), counts(&[("Bella", 1)]));
    assert_eq!(facet(&body, "tag"), counts(&[("winter", 1)]));
    assert_eq!(facet(&body, "product_type"), counts(&[("Coat", 1)]));
    assert_eq!(prices(&body), vec![0, 0, 0, 1, 0, 0, 0]);
    let body = shop.search("vendor=Bella&tag=summer").await;
    assert_eq!(body["total"], 0);
    assert_eq!(facet(&body, "tag"), counts(&[("winter", 1)]));
    assert_eq!(facet(&body, "vendor"), counts(&[]));

    stack.shutdown().await;
}

/// Facets are labelled with collection titles and category names, and
/// answers are cached per search generation: renaming either moves the
/// generation, so the next search shows the new label at once.
#[tokio::test]
async fn renaming_a_collection_or_a_category_relabels_cached_facets() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "relabel").await;
    let (scarf, _) = shop
        .product("Silk Scarf", "active", &[("SC-1", 2000)])
        .await;
    let (collection, category) = (Uuid::now_v7(), Uuid::now_v7());
    shop.sql(
        "INSERT INTO collections (store_id, id, handle, title, kind, sort_order)
         VALUES ($1, $2, 'spring', 'Spring', 'manual', 'manual')",
        &[collection],
    )
    .await;
    shop.sql(
        "INSERT INTO collection_products (store_id, collection_id, product_id, position)
         VALUES ($1, $2, $3, 1)",
        &[collection, scarf],
    )
    .await;
    shop.sql(
        "INSERT INTO categories (store_id, id, handle, name) VALUES ($1, $2, 'neckwear', 'Neckwear')",
        &[category],
    )
    .await;
    shop.sql(
        "INSERT INTO product_categories (store_id, product_id, category_id) VALUES ($1, $2, $3)",
        &[scarf, category],
    )
    .await;
    shop.reindex(&[scarf]).await;
    let labels = |body: &Value| {
        (
            body["facets"]["collection"][0]["label"].clone(),
            body["facets"]["category"][0]["label"].clone(),
        )
    };
    // Twice: the second answer comes from the cache.
    for _ in 0..2 {
        assert_eq!(
            labels(&shop.search("").await),
            (json!("Spring"), json!("Neckwear"))
        );
    }

    let renames = [
        (
            format!("/admin/api/collections/{collection}"),
            json!({"title": "Spring Sale"}),
            ("Spring Sale", "Neckwear"),
        ),
        (
            format!("/admin/api/categories/{category}"),
            json!({"name": "Scarves"}),
            ("Spring Sale", "Scarves"),
        ),
    ];
    for (path, body, (collection_label, category_label)) in renames {
        let r = stack
            .at(reqwest::Method::PATCH, &shop.host, &path)
            .bearer_auth(&shop.token)
            .json(&body)
            .send()
            .await
            .expect("rename");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            labels(&shop.search("").await),
            (json!(collection_label), json!(category_label)),
            "after {path}"
        );
    }

    stack.shutdown().await;
}
