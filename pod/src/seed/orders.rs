//! Generated past orders, with everything checkout leaves behind them.

use anyhow::Context as _;
use mercato_tenants::StoreId;
use sqlx::PgPool;

/// Fills `store` with `orders` past orders the way checkout leaves them,
/// in one transaction of set-based statements over the store's active
/// variants (seed the catalog first): one customer (with an address) per
/// four orders, per order a converted cart with its lines, the completed
/// checkout, the paid order with 1 to 3 lines and two history rows, a
/// committed hold and a stock adjustment per line, a published outbox
/// event and a handled webhook. The store's order counter follows.
pub async fn orders(db: &PgPool, store: StoreId, orders: u32) -> anyhow::Result<()> {
    if orders == 0 {
        return Ok(());
    }
    let s = store.as_uuid();
    let n = orders as i32;
    let mut tx = db.begin().await?;
    let location = crate::inventory::ensure_default_location(&mut tx, store).await?;
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
                CASE h % 10 WHEN 0 THEN 'delivered' WHEN 1 THEN 'fulfilled' ELSE 'paid' END, 'USD',
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
