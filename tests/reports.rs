//! Merchant reports (`/admin/api/reports/...`) against the orders table:
//! a seeded random run of checkouts (some declined), partial refunds and
//! cancellations, with a change of the store's time zone in the middle,
//! then every figure of the sales report, the top lists and their CSV
//! must equal what the orders, their lines and their refunds sum to, to
//! the cent. The rollups move with the store (tests/moves.rs).

mod common;

use std::collections::BTreeMap;

use common::shop::{checkout_body, Shop, CARD_NO_FUNDS, CARD_OK};
use common::{status_of, Stack};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

/// A small deterministic generator (xorshift64*): the run is the same
/// every time, and a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn staff_get(stack: &Stack, shop: &Shop, path: &str) -> (u16, String) {
    let r = stack
        .at(Method::GET, &shop.host, path)
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn staff_json(stack: &Stack, shop: &Shop, path: &str) -> Value {
    let (status, body) = staff_get(stack, shop, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// One figure of the orders table, summed.
async fn sum(db: &mut sqlx::PgConnection, shop: &Shop, expr: &str, from: &str) -> i64 {
    let row = sqlx::query(&format!(
        "SELECT COALESCE(sum({expr}), 0)::bigint FROM {from} WHERE store_id = $1"
    ))
    .bind(shop.id.as_uuid())
    .fetch_one(&mut *db)
    .await
    .expect("sum");
    row.get(0)
}

/// A top list's rows by key: (count, amount).
fn top_rows(report: &Value) -> BTreeMap<String, (i64, i64)> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().expect("key").to_owned(),
                (
                    r["count"].as_i64().expect("count"),
                    r["amount_minor"].as_i64().expect("amount"),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_agree_with_the_orders_table_to_the_cent() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "reports").await;
    let mut variants = Vec::new();
    for (sku, price) in [("R-1", 1999), ("R-2", 550), ("R-3", 12000)] {
        variants.push(shop.product(&stack, sku, price, 10_000).await.1);
    }
    let emails = [
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
        "Ada@Example.com",
    ];
    let seed = 0x5eed_2026_1208;
    let mut rng = Rng(seed);
    let mut paid: Vec<String> = Vec::new();
    let mut declined = 0;
    for round in 0..36 {
        if round == 18 {
            // Mid-run the owner moves the store to UTC+14: every day is
            // counted again in the new zone.
            let r = stack
                .at(Method::PUT, &shop.host, "/admin/api/settings/time-zone")
                .bearer_auth(&shop.staff)
                .json(&json!({"time_zone": "Pacific/Kiritimati"}));
            assert_eq!(status_of(r).await, 200);
        }
        match rng.below(10) {
            // A refund of part of what is left of a paid order.
            0 | 1 if !paid.is_empty() => {
                let order = paid[rng.below(paid.len() as u64) as usize].clone();
                let amount = 1 + rng.below(300) as i64;
                let r = stack
                    .post(&shop.host, &format!("/admin/api/orders/{order}/refunds"))
                    .bearer_auth(&shop.staff)
                    .header("idempotency-key", format!("refund-{seed}-{round}"))
                    .json(&json!({"amount_minor": amount, "reason": "goodwill"}));
                let status = status_of(r).await;
                assert!(matches!(status, 201 | 409), "refund: {status}");
            }
            // A whole order cancelled (refunded at the gateway).
            2 if !paid.is_empty() => {
                let order = paid.swap_remove(rng.below(paid.len() as u64) as usize);
                let r = stack
                    .post(&shop.host, &format!("/admin/api/orders/{order}/cancel"))
                    .bearer_auth(&shop.staff)
                    .json(&json!({"reason": "customer asked"}));
                assert_eq!(status_of(r).await, 200, "cancel");
            }
            _ => {
                let n = 1 + rng.below(3) as usize;
                let lines: Vec<(&str, i64)> = (0..n)
                    .map(|_| {
                        (
                            variants[rng.below(3) as usize].as_str(),
                            1 + rng.below(3) as i64,
                        )
                    })
                    .collect();
                let cart = shop.cart(&stack, &lines).await;
                let card = if rng.below(6) == 0 {
                    CARD_NO_FUNDS
                } else {
                    CARD_OK
                };
                let mut body = checkout_body(card);
                body["email"] = json!(emails[rng.below(emails.len() as u64) as usize]);
                let r = shop
                    .checkout_with(&stack, &cart, &format!("chk-{seed}-{round}"), &body)
                    .send()
                    .await
                    .expect("checkout");
                match r.status().as_u16() {
                    201 => {
                        let order: Value = r.json().await.expect("json");
                        paid.push(order["id"].as_str().expect("id").to_owned());
                    }
                    402 => declined += 1,
                    other => panic!("checkout answered {other}"),
                }
            }
        }
    }
    assert!(
        paid.len() >= 10 && declined >= 1,
        "the run exercised enough"
    );

    let tz = staff_json(&stack, &shop, "/admin/api/settings/time-zone").await;
    assert_eq!(tz["time_zone"], "Pacific/Kiritimati");
    let today = {
        let mut db = shop.db(&stack).await;
        let row = sqlx::query("SELECT (now() AT TIME ZONE 'Pacific/Kiritimati')::date::text")
            .fetch_one(&mut db)
            .await
            .expect("today");
        row.get::<String, _>(0)
    };
    let from = "2026-01-01";
    let report = staff_json(
        &stack,
        &shop,
        &format!("/admin/api/reports/sales?from={from}&to={today}&by=month"),
    )
    .await;
    let totals = &report["totals"];
    let mut db = shop.db(&stack).await;
    let orders = sum(&mut db, &shop, "1", "orders").await;
    let expected = [
        ("orders", orders),
        (
            "units",
            sum(&mut db, &shop, "quantity", "order_lines").await,
        ),
        (
            "gross_minor",
            sum(&mut db, &shop, "subtotal_minor", "orders").await,
        ),
        (
            "discount_minor",
            sum(&mut db, &shop, "discount_minor", "orders").await,
        ),
        (
            "shipping_minor",
            sum(&mut db, &shop, "shipping_minor", "orders").await,
        ),
        (
            "tax_minor",
            sum(&mut db, &shop, "tax_minor", "orders").await,
        ),
        (
            "total_minor",
            sum(&mut db, &shop, "total_minor", "orders").await,
        ),
        (
            "refunded_minor",
            sum(&mut db, &shop, "refunded_minor", "orders").await,
        ),
    ];
    for (field, want) in expected {
        assert_eq!(totals[field].as_i64(), Some(want), "{field}: {report}");
    }
    assert!(
        totals["refunded_minor"].as_i64() > Some(0),
        "refunds happened"
    );
    assert_eq!(
        totals["net_minor"].as_i64(),
        Some(
            totals["total_minor"].as_i64().unwrap_or(0)
                - totals["refunded_minor"].as_i64().unwrap_or(0)
                - totals["cancelled_minor"].as_i64().unwrap_or(0)
        )
    );
    // The same totals by day and by week.
    for by in ["day", "week"] {
        let other = staff_json(
            &stack,
            &shop,
            &format!("/admin/api/reports/sales?from={from}&to={today}&by={by}"),
        )
        .await;
        assert_eq!(other["totals"], report["totals"], "by {by}");
        let periods = other["periods"].as_array().expect("periods");
        let summed: i64 = periods.iter().filter_map(|p| p["orders"].as_i64()).sum();
        assert_eq!(summed, orders, "by {by}");
    }

    // Top variants and products: units and money per variant as the lines say.
    let lines = sqlx::query(
        "SELECT variant_id::text, sum(quantity)::bigint,
                sum(quantity::bigint * unit_price_minor - discount_minor)::bigint
           FROM order_lines WHERE store_id = $1 GROUP BY 1",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("lines");
    let want: BTreeMap<String, (i64, i64)> = lines
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get(1), r.get(2))))
        .collect();
    let top = staff_json(
        &stack,
        &shop,
        &format!("/admin/api/reports/top?kind=variants&from={from}&to={today}"),
    )
    .await;
    let got = top_rows(&top);
    assert_eq!(got, want);
    // This whole month: read from the monthly rollup, not the days.
    let (first, last): (String, String) = sqlx::query_as(
        "SELECT date_trunc('month', $1::date)::date::text,
                (date_trunc('month', $1::date) + interval '1 month - 1 day')::date::text",
    )
    .bind(&today)
    .fetch_one(&mut db)
    .await
    .expect("the month");
    let whole = staff_json(
        &stack,
        &shop,
        &format!("/admin/api/reports/top?kind=variants&from={first}&to={last}"),
    )
    .await;
    assert_eq!(top_rows(&whole), want, "the month's rollup");
    let amounts: Vec<i64> = top["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["amount_minor"].as_i64())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "best first");
    assert!(top["rows"][0]["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("Product R-")));
    let products = staff_json(
        &stack,
        &shop,
        &format!("/admin/api/reports/top?kind=products&from={from}&to={today}&limit=2"),
    )
    .await;
    assert_eq!(products["rows"].as_array().map(Vec::len), Some(2));

    // Top customers: one per email, whatever its letter case.
    let customers = staff_json(
        &stack,
        &shop,
        &format!("/admin/api/reports/top?kind=customers&from={from}&to={today}"),
    )
    .await;
    let by_email = sqlx::query(
        "SELECT lower(email), count(*)::bigint, sum(total_minor)::bigint
           FROM orders WHERE store_id = $1 GROUP BY 1",
    )
    .bind(shop.id.as_uuid())
    .fetch_all(&mut db)
    .await
    .expect("customers");
    let want: BTreeMap<String, (i64, i64)> = by_email
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get(1), r.get(2))))
        .collect();
    let got = top_rows(&customers);
    assert_eq!(got, want);

    // The CSV: a row per month and the totals, in dollars.
    let (status, csv) = staff_get(
        &stack,
        &shop,
        &format!("/admin/api/reports/sales.csv?from={from}&to={today}&by=month"),
    )
    .await;
    assert_eq!(status, 200);
    let last = csv.lines().last().expect("totals row");
    let cells: Vec<&str> = last.split(',').collect();
    assert_eq!(cells[0], "total");
    assert_eq!(cells[1], orders.to_string());
    let gross = totals["gross_minor"].as_i64().unwrap_or(0);
    assert_eq!(cells[3], format!("{}.{:02}", gross / 100, gross % 100));
    let (status, csv) = staff_get(
        &stack,
        &shop,
        &format!("/admin/api/reports/top.csv?kind=customers&from={from}&to={today}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 1 + want.len());

    // Refusals.
    for bad in [
        format!("/admin/api/reports/sales?from={today}&to=2026-01-01"),
        "/admin/api/reports/sales?from=2020-01-01&to=2026-12-31".to_owned(),
        "/admin/api/reports/sales?by=year".to_owned(),
        "/admin/api/reports/sales?from=2026-02-30".to_owned(),
        "/admin/api/reports/top?kind=variants&limit=0".to_owned(),
        "/admin/api/reports/top?kind=stores".to_owned(),
    ] {
        assert_eq!(staff_get(&stack, &shop, &bad).await.0, 400, "{bad}");
    }
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/time-zone")
        .bearer_auth(&shop.staff)
        .json(&json!({"time_zone": "Mars/Olympus_Mons"}));
    assert_eq!(status_of(r).await, 422, "no such zone");
    let r = stack
        .at(Method::PUT, &shop.host, "/admin/api/settings/time-zone")
        .bearer_auth(&shop.staff)
        .json(&json!({"time_zone": "UTC; DROP TABLE orders"}));
    assert_eq!(status_of(r).await, 400, "not a zone's name");
    let r = stack.at(Method::GET, &shop.host, "/admin/api/reports/sales");
    assert_eq!(status_of(r).await, 401);
}

/// The admin's reports page over HTTP: the owner sees the figures,
/// downloads the CSV with the page's session and sets the time zone;
/// other staff may read but not set it; bad input is a `400` page.
#[tokio::test]
async fn the_admin_reports_page_shows_downloads_and_sets_the_time_zone() {
    use common::web::{csrf, WebClient};
    let stack = Stack::start(1).await;
    let shop = Shop::signed_up(
        &stack,
        "report-lamps",
        "Report Lamps",
        ("ada@reports.example", "correct horse battery"),
    )
    .await;
    let (_, variant) = shop.product(&stack, "LAMP-1", 2500, 50).await;
    for i in 0..3 {
        let cart = shop.cart(&stack, &[(variant.as_str(), 2)]).await;
        let r = shop.checkout(&stack, &cart, &format!("page-{i}"), CARD_OK);
        assert_eq!(status_of(r).await, 201);
    }
    shop.staff_member(&stack, "bob@reports.example", "bob's long password")
        .await;

    let mut ada = WebClient::new(&stack, &shop.host);
    let p = ada
        .post(
            "/admin/login",
            &[
                ("email", "ada@reports.example"),
                ("password", "correct horse battery"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = ada.get("/admin/reports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-report-orders>3<"), "{}", page.body);
    assert!(
        page.body.contains("$150.00"),
        "gross: 3 orders of 2 × $25.00"
    );
    assert!(page.body.contains("Days in UTC"));
    let by_month = ada.get("/admin/reports?by=month").await;
    assert!(by_month.body.contains("Sales by month"));

    let r = common::web::client()
        .get(format!(
            "{}/admin/reports/sales.csv?by=week",
            stack.router.url()
        ))
        .header("host", &shop.host)
        .header(reqwest::header::COOKIE, ada.cookie_header())
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/csv")));
    let body = r.text().await.expect("body");
    assert!(
        body.lines()
            .last()
            .is_some_and(|l| l.starts_with("total,3,6,150.00,")),
        "{body}"
    );

    let token = csrf(&page.body);
    let saved = ada
        .post(
            "/admin/reports/time-zone",
            &[("csrf", &token), ("time_zone", "America/New_York")],
        )
        .await;
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (303, "/admin/reports?saved=1")
    );
    let page = ada.get("/admin/reports?saved=1").await;
    assert!(page.body.contains("Days in America/New_York"));
    let bad = ada
        .post(
            "/admin/reports/time-zone",
            &[("csrf", &token), ("time_zone", "Nowhere/Land")],
        )
        .await;
    assert_eq!(bad.status, 422);
    for path in [
        "/admin/reports?from=2026-13-01",
        "/admin/reports?by=year",
        "/admin/reports?from=2026-12-09&to=2026-12-01",
    ] {
        assert_eq!(ada.get(path).await.status, 400, "{path}");
    }

    // Bob reads the reports; the time zone is the owner's.
    let mut bob = WebClient::new(&stack, &shop.host);
    let p = bob
        .post(
            "/admin/login",
            &[
                ("email", "bob@reports.example"),
                ("password", "bob's long password"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = bob.get("/admin/reports").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("action=\"/admin/reports/time-zone\""));
    let token = csrf(&page.body);
    let refused = bob
        .post(
            "/admin/reports/time-zone",
            &[("csrf", &token), ("time_zone", "Europe/Paris")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let tz = staff_json(&stack, &shop, "/admin/api/settings/time-zone").await;
    assert_eq!(tz["time_zone"], "America/New_York");
}
