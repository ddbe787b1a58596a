//! The admin's settings (`/admin/settings...` on the store's domain), over
//! HTTP through the router as a browser without script uses them: the
//! index, locations, the shipping and tax rate tables, the returns policy,
//! the mail settings and the risk rules. Each form's effect is read back
//! through the JSON API it shares its writes with; bad input is refused
//! with the reason on the page and nothing written; staff who are not the
//! owner are refused what the API refuses them. One browser test walks the
//! pages in Chromium with axe-core and saves their screenshots.

mod common;

use common::browser::{store_url, Browser};
use common::shop::Shop;
use common::web::{csrf, WebClient};
use common::Stack;
use serde_json::{json, Value};

const OWNER: (&str, &str) = ("ada@settings.example", "correct horse battery");
const STAFF: (&str, &str) = ("bob@settings.example", "bob's long password");

/// A store signed up for by its owner (the shop's token is the owner's
/// session), with Bob on its staff.
async fn open_store(stack: &Stack, handle: &str) -> Shop {
    let shop = Shop::signed_up(stack, handle, "Lamp Settings", OWNER).await;
    shop.staff_member(stack, STAFF.0, STAFF.1).await;
    shop
}

async fn sign_in<'a>(stack: &'a Stack, shop: &Shop, who: (&str, &str)) -> WebClient<'a> {
    let mut b = WebClient::new(stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[("email", who.0), ("password", who.1), ("next", "/admin")],
        )
        .await;
    assert_eq!(p.status, 303, "{} signs in: {}", who.0, p.body);
    b
}

/// `GET path` of the JSON API with the owner's token.
async fn api(stack: &Stack, shop: &Shop, path: &str) -> Value {
    let r = stack
        .get(&shop.host, path)
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect(path);
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

fn location<'v>(locations: &'v Value, name: &str) -> Option<&'v Value> {
    locations["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|l| l["name"] == name)
}

/// The page shows a refusal in words (an alert).
fn refused_with(body: &str, words: &str) {
    assert!(body.contains("role=\"alert\""), "an alert: {body}");
    assert!(body.contains(words), "{words:?} on the page: {body}");
}

#[tokio::test]
async fn staff_add_and_change_locations_and_replace_the_rate_tables_with_forms() {
    let stack = Stack::start(1).await;
    let shop = open_store(&stack, "setlocs").await;
    let mut b = sign_in(&stack, &shop, STAFF).await;

    // The index: the sections staff may open, and the store's details.
    let p = b.get("/admin/settings").await;
    assert_eq!(p.status, 200, "{}", p.body);
    for link in [
        "/admin/settings/locations",
        "/admin/settings/shipping",
        "/admin/settings/taxes",
        "/admin/settings/returns",
        "/admin/settings/mail",
        "/admin/settings/theme",
    ] {
        assert!(p.body.contains(&format!("href=\"{link}\"")), "{link}");
    }
    for owners in [
        "/admin/settings/risk",
        "/admin/settings/staff",
        "/admin/settings/api-keys",
        "/admin/settings/webhooks",
    ] {
        assert!(
            !p.body.contains(&format!("href=\"{owners}\"")),
            "no {owners} for staff"
        );
    }
    assert!(p.body.contains("Lamp Settings"));
    assert!(p.body.contains("data-store-handle>setlocs<"));
    assert!(p.body.contains("data-store-currency>USD<"));
    // Staff are told where the owner changes the name; only the owner
    // gets the link to the platform's page.
    assert!(p.body.contains("where the store's owner changes them"));
    assert!(!p.body.contains("/stores/"), "no platform link for staff");

    // Locations: the default one is listed; a new one is added.
    let p = b.get("/admin/settings/locations").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("data-location=\"Default\""), "{}", p.body);
    let token = csrf(&p.body);
    let east = [
        ("csrf", token.as_str()),
        ("name", "Warehouse East"),
        ("line1", "1 Dock Road"),
        ("city", "Hamburg"),
        ("postal_code", "20457"),
        ("country", "de"),
        ("latitude", "53.54"),
        ("longitude", "9.98"),
        ("priority", "5"),
        ("active", "yes"),
    ];
    // Without the session's token, nothing.
    let p = b.post("/admin/settings/locations", &east[1..]).await;
    assert_eq!(p.status, 403);
    assert!(location(
        &api(&stack, &shop, "/admin/api/locations").await,
        "Warehouse East"
    )
    .is_none());
    let p = b.post("/admin/settings/locations", &east).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/locations?done=added"),
        "{}",
        p.body
    );
    let all = api(&stack, &shop, "/admin/api/locations").await;
    let added = location(&all, "Warehouse East").expect("added");
    assert_eq!(added["country"], "DE");
    assert_eq!(added["city"], "Hamburg");
    assert_eq!(added["priority"], 5);
    assert_eq!(added["active"], true);
    assert_eq!(added["latitude"], 53.54);
    let east_id = added["id"].as_str().expect("id").to_owned();
    let p = b.get("/admin/settings/locations?done=added").await;
    assert!(p.body.contains("The location was added."));
    assert!(p.body.contains("data-location=\"Warehouse East\""));

    // Bad input: the API's refusals, in words, as typed, nothing written.
    let long_name = "x".repeat(101);
    for (change, status, words) in [
        (
            ("country", "XX"),
            400,
            "Country must be an ISO 3166-1 alpha-2 code",
        ),
        (("latitude", "north"), 400, "Enter the latitude as a number"),
        (
            ("longitude", ""),
            422,
            "Latitude and longitude are given together",
        ),
        (("priority", "-1"), 400, "Priority must be 0 to 1000000"),
        (
            ("name", long_name.as_str()),
            400,
            "Name must be 1 to 100 characters",
        ),
    ] {
        let mut form: Vec<(&str, &str)> = east.to_vec();
        form.retain(|(k, _)| *k != change.0);
        form.push(change);
        let p = b.post("/admin/settings/locations", &form).await;
        assert_eq!(p.status, status, "{change:?}: {}", p.body);
        refused_with(&p.body, words);
        assert!(p.body.contains("value=\"1 Dock Road\""), "kept as typed");
    }
    let p = b
        .post(
            "/admin/settings/locations",
            &[("csrf", token.as_str()), ("name", "Escape\u{1b}here")],
        )
        .await;
    assert_eq!(p.status, 400, "a control character");
    let all = api(&stack, &shop, "/admin/api/locations").await;
    assert_eq!(
        all["items"].as_array().expect("items").len(),
        2,
        "none added"
    );

    // A location's page changes it: renamed, made inactive.
    let page = format!("/admin/settings/locations/{east_id}");
    let p = b.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("value=\"Hamburg\""));
    let p = b
        .post(
            &page,
            &[
                ("csrf", token.as_str()),
                ("name", "East"),
                ("line1", "1 Dock Road"),
                ("city", "Hamburg"),
                ("country", "DE"),
                ("priority", "2"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/locations?done=saved"),
        "{}",
        p.body
    );
    let all = api(&stack, &shop, "/admin/api/locations").await;
    let renamed = location(&all, "East").expect("renamed");
    assert_eq!(renamed["active"], false);
    assert_eq!(renamed["priority"], 2);
    assert_eq!(renamed["latitude"], 53.54, "empty coordinates stay");
    // The default is now the last active location: it stays active.
    let default = location(&all, "Default").expect("default");
    let default_id = default["id"].as_str().expect("id");
    let p = b
        .post(
            &format!("/admin/settings/locations/{default_id}"),
            &[
                ("csrf", token.as_str()),
                ("name", "Default"),
                ("priority", "0"),
            ],
        )
        .await;
    assert_eq!(p.status, 409, "{}", p.body);
    refused_with(
        &p.body,
        "The store&#39;s last active location cannot be deactivated.",
    );
    let all = api(&stack, &shop, "/admin/api/locations").await;
    assert_eq!(location(&all, "Default").expect("default")["active"], true);
    // Unknown ids, and another store's location, are not found.
    let other = Shop::open(&stack, "setother").await;
    let r = stack
        .post(&other.host, "/admin/api/locations")
        .bearer_auth(&other.staff)
        .json(&json!({"name": "Theirs"}))
        .send()
        .await
        .expect("other location");
    assert_eq!(r.status(), 201);
    let theirs: Value = r.json().await.expect("json");
    let theirs = theirs["id"].as_str().expect("id");
    for id in [theirs, "not-an-id", "00000000-0000-0000-0000-000000000000"] {
        let path = format!("/admin/settings/locations/{id}");
        assert_eq!(b.get(&path).await.status, 404, "{id}");
        let p = b
            .post(
                &path,
                &[
                    ("csrf", token.as_str()),
                    ("name", "Mine now"),
                    ("active", "yes"),
                ],
            )
            .await;
        assert_eq!(p.status, 404, "{id}");
    }
    let r = stack
        .get(&other.host, &format!("/admin/api/locations/{theirs}"))
        .bearer_auth(&other.staff)
        .send()
        .await
        .expect("theirs");
    assert_eq!(r.json::<Value>().await.expect("json")["name"], "Theirs");

    // Shipping: the default table, replaced as a whole.
    let p = b.get("/admin/settings/shipping").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("value=\"standard\""), "the default rate");
    let table = |rows: &[[&'static str; 5]], remove: &[usize]| {
        let mut form: Vec<(String, String)> = vec![("csrf".into(), token.clone())];
        for (i, row) in rows.iter().enumerate() {
            for (key, value) in ["code", "name", "price", "free_over", "countries"]
                .iter()
                .zip(row)
            {
                form.push((format!("{key}_{i}"), (*value).to_owned()));
            }
            if remove.contains(&i) {
                form.push((format!("remove_{i}"), "yes".into()));
            }
        }
        form
    };
    let rates = [
        ["standard", "Standard", "4.99", "50", "us, ca"],
        ["express", "Express", "15", "", ""],
        ["", "", "", "", ""],
    ];
    let form = table(&rates, &[]);
    let p = b.post("/admin/settings/shipping", &pairs(&form)).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/shipping?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/shipping-rates").await;
    assert_eq!(
        saved["rates"],
        json!([
            {"code": "standard", "name": "Standard", "price_minor": 499, "free_over_minor": 5000, "countries": ["US", "CA"]},
            {"code": "express", "name": "Express", "price_minor": 1500, "free_over_minor": null, "countries": []}
        ])
    );
    let p = b.get("/admin/settings/shipping?done=saved").await;
    assert!(p.body.contains("The shipping rates were saved."));
    assert!(p.body.contains("value=\"4.99\"") && p.body.contains("value=\"US, CA\""));
    // Refusals: nothing written, the table as typed.
    for (rows, status, words) in [
        (
            [
                ["express", "Express", "15", "", ""],
                ["express", "Express Two", "20", "", ""],
            ],
            422,
            "Code express appears twice.",
        ),
        (
            [
                ["express", "Express", "15", "", ""],
                ["slow", "Express Two", "cheap", "", ""],
            ],
            400,
            "Rate 2: enter the price as a number",
        ),
        (
            [
                ["express", "Express", "15", "", ""],
                ["-slow", "Express Two", "1", "", ""],
            ],
            400,
            "Code must be 1 to 40 lower-case letters",
        ),
        (
            [
                ["express", "Express", "15", "", ""],
                ["slow", "Express Two", "1", "", "USA"],
            ],
            400,
            "is not an ISO 3166-1 alpha-2 country code",
        ),
    ] {
        let p = b
            .post("/admin/settings/shipping", &pairs(&table(&rows, &[])))
            .await;
        assert_eq!(p.status, status, "{rows:?}: {}", p.body);
        refused_with(&p.body, words);
        assert!(p.body.contains("value=\"Express Two\""), "kept as typed");
    }
    assert_eq!(api(&stack, &shop, "/admin/api/shipping-rates").await, saved);
    // A row removed by its box.
    let p = b
        .post("/admin/settings/shipping", &pairs(&table(&rates, &[0])))
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let left = api(&stack, &shop, "/admin/api/shipping-rates").await;
    assert_eq!(left["rates"].as_array().expect("rates").len(), 1);
    assert_eq!(left["rates"][0]["code"], "express");

    // Taxes: the same, in percentages.
    let p = b.get("/admin/settings/taxes").await;
    assert_eq!(p.status, 200);
    let taxes = |rows: &[[&'static str; 4]]| {
        let mut form: Vec<(String, String)> = vec![("csrf".into(), token.clone())];
        for (i, row) in rows.iter().enumerate() {
            for (key, value) in ["country", "region", "rate", "name"].iter().zip(row) {
                form.push((format!("{key}_{i}"), (*value).to_owned()));
            }
        }
        form
    };
    let p = b
        .post(
            "/admin/settings/taxes",
            &pairs(&taxes(&[
                ["us", "ca", "7.25", "Sales tax"],
                ["DE", "", "19", ""],
                ["", "", "", ""],
            ])),
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/taxes?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/tax-rates").await;
    assert_eq!(
        saved["rates"],
        json!([
            {"country": "DE", "region": "", "rate_bp": 1900, "name": "Tax"},
            {"country": "US", "region": "CA", "rate_bp": 725, "name": "Sales tax"}
        ])
    );
    let p = b.get("/admin/settings/taxes").await;
    assert!(p.body.contains("value=\"7.25\"") && p.body.contains("value=\"19\""));
    for (rows, status, words) in [
        (
            [["DE", "", "19", "VAT"], ["FR", "", "120", "TVA"]],
            400,
            "Rate 2: enter a percentage from 0 to 100",
        ),
        (
            [["US", "CA", "7", "VAT"], ["us", "ca ", "8", "TVA"]],
            422,
            "US CA appears twice.",
        ),
        (
            [["DE", "", "19", "VAT"], ["FRA", "", "20", "TVA"]],
            400,
            "is not an ISO 3166-1 alpha-2 country code",
        ),
    ] {
        let p = b.post("/admin/settings/taxes", &pairs(&taxes(&rows))).await;
        assert_eq!(p.status, status, "{rows:?}: {}", p.body);
        refused_with(&p.body, words);
        assert!(p.body.contains("value=\"TVA\""), "kept as typed");
    }
    assert_eq!(api(&stack, &shop, "/admin/api/tax-rates").await, saved);
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The risk rules' whole form with `changes` in place of its defaults'.
fn risk_form(token: &str, changes: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = vec![
        ("csrf", token),
        ("review_amount", "1000.00"),
        ("block_amount", "5000"),
        ("first_order_amount", ""),
        ("email_review_attempts", "5"),
        ("email_block_attempts", "15"),
        ("email_review_declines", "3"),
        ("email_block_declines", "8"),
        ("client_review_attempts", "10"),
        ("client_block_attempts", "40"),
        ("client_review_declines", "5"),
        ("client_block_declines", ""),
        ("card_review_attempts", "4"),
        ("card_block_attempts", "12"),
        ("card_review_declines", "3"),
        ("card_block_declines", "6"),
        ("country_mismatch", "ignore"),
        ("extra_disposable_domains", "Spam.Example, trash.example"),
        ("allow_emails", "vip@example.com"),
        ("allow_customer_ids", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in changes {
        form.retain(|(k, _)| k != key);
        form.push(((*key).to_owned(), (*value).to_owned()));
    }
    form
}

#[tokio::test]
async fn only_the_owner_changes_the_returns_policy_mail_and_risk_rules_and_staff_read_what_the_api_lets_them(
) {
    let stack = Stack::start(1).await;
    let shop = open_store(&stack, "setrules").await;
    let mut bob = sign_in(&stack, &shop, STAFF).await;
    let mut ada = sign_in(&stack, &shop, OWNER).await;
    let returns_before = api(&stack, &shop, "/admin/api/settings/returns").await;
    let mail_before = api(&stack, &shop, "/admin/api/settings/mail").await;
    let risk_before = api(&stack, &shop, "/admin/api/settings/risk").await;

    // Staff read the returns policy and the mail settings, without a form,
    // and are refused what the page hides; the risk rules are the owner's.
    let p = bob.get("/admin/settings/returns").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("data-window-days>30 days"), "{}", p.body);
    assert!(!p.body.contains("action=\"/admin/settings/returns\""));
    let bob_token = csrf(&p.body);
    let p = bob.get("/admin/settings/mail").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("data-sender-name>Lamp Settings<"));
    assert!(!p.body.contains("action=\"/admin/settings/mail\""));
    let p = bob
        .post(
            "/admin/settings/returns",
            &[
                ("csrf", bob_token.as_str()),
                ("window_days", "1"),
                ("shipping_refund", "never"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("Only the store&#39;s owner may do this."));
    let p = bob
        .post(
            "/admin/settings/mail",
            &[("csrf", bob_token.as_str()), ("sender_name", "Bob's shop")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(bob.get("/admin/settings/risk").await.status, 403);
    let p = bob
        .post("/admin/settings/risk", &pairs(&risk_form(&bob_token, &[])))
        .await;
    assert_eq!(p.status, 403);
    assert!(!bob
        .get("/admin/settings")
        .await
        .body
        .contains("href=\"/admin/settings/risk\""));
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/returns").await,
        returns_before
    );
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/mail").await,
        mail_before
    );
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/risk").await,
        risk_before
    );

    // The owner sees every section.
    let p = ada.get("/admin/settings").await;
    for link in ["risk", "staff", "api-keys", "webhooks"] {
        assert!(
            p.body.contains(&format!("href=\"/admin/settings/{link}\"")),
            "{link}"
        );
    }
    // And the link to the platform's page of the store's name and domains,
    // as the browser named the store's host (here without a port; the
    // browser test follows it with one).
    let platform = format!("href=\"http://{}/stores/{}\"", common::PLATFORM, shop.id);
    assert!(p.body.contains(&platform), "{}", p.body);

    // The returns policy.
    let p = ada.get("/admin/settings/returns").await;
    assert_eq!(p.status, 200);
    let token = csrf(&p.body);
    let p = ada
        .post(
            "/admin/settings/returns",
            &[
                ("csrf", token.as_str()),
                ("window_days", "14"),
                ("shipping_refund", "never"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/returns?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/settings/returns").await;
    assert_eq!(
        saved,
        json!({"window_days": 14, "shipping_refund": "never"})
    );
    for (days, refund, status, words) in [
        ("400", "never", 400, "Window_days must be 0 to 365."),
        (
            "two weeks",
            "never",
            400,
            "Enter the days as a whole number",
        ),
        ("7", "always", 400, "Choose when shipping is refunded"),
    ] {
        let p = ada
            .post(
                "/admin/settings/returns",
                &[
                    ("csrf", token.as_str()),
                    ("window_days", days),
                    ("shipping_refund", refund),
                ],
            )
            .await;
        assert_eq!(p.status, status, "{days} {refund}: {}", p.body);
        refused_with(&p.body, words);
        assert!(
            p.body.contains(&format!("value=\"{days}\"")),
            "kept as typed"
        );
    }
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/returns").await,
        saved
    );

    // The mail settings.
    let p = ada
        .post(
            "/admin/settings/mail",
            &[
                ("csrf", token.as_str()),
                ("sender_name", "Lamp Co"),
                ("reply_to", "Help@Lamps.example"),
                ("abandoned_cart_hours", "24"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/mail?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/settings/mail").await;
    assert_eq!(saved["sender_name"], "Lamp Co");
    assert_eq!(saved["abandoned_cart_hours"], 24);
    assert!(saved["reply_to"]
        .as_str()
        .expect("reply_to")
        .eq_ignore_ascii_case("help@lamps.example"));
    let long_name = "n".repeat(101);
    for (field, value, words) in [
        (
            "reply_to",
            "not an address",
            "Reply_to must look like name@example.com.",
        ),
        (
            "abandoned_cart_hours",
            "0",
            "Abandoned_cart_hours must be 1 to 720",
        ),
        (
            "abandoned_cart_hours",
            "soon",
            "Enter the hours as a whole number",
        ),
        (
            "sender_name",
            long_name.as_str(),
            "Sender_name must be at most 100 characters.",
        ),
    ] {
        let mut form = vec![
            ("csrf", token.as_str()),
            ("sender_name", "Lamp Co"),
            ("reply_to", "help@lamps.example"),
            ("abandoned_cart_hours", "24"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let p = ada.post("/admin/settings/mail", &form).await;
        assert_eq!(p.status, 400, "{field}: {}", p.body);
        refused_with(&p.body, words);
    }
    assert_eq!(api(&stack, &shop, "/admin/api/settings/mail").await, saved);
    // Staff now read what the owner set.
    assert!(bob
        .get("/admin/settings/mail")
        .await
        .body
        .contains("data-sender-name>Lamp Co<"));

    // The risk rules: the defaults shown, replaced all at once.
    let p = ada.get("/admin/settings/risk").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("id=\"review-amount\" name=\"review_amount\" inputmode=\"decimal\" maxlength=\"20\" value=\"2000.00\""), "{}", p.body);
    let p = ada
        .post("/admin/settings/risk", &pairs(&risk_form(&token, &[])))
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/risk?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/settings/risk").await;
    assert_eq!(saved["review_amount_minor"], 100_000);
    assert_eq!(saved["block_amount_minor"], 500_000);
    assert_eq!(saved["first_order_amount_minor"], Value::Null);
    assert_eq!(saved["client"]["block_declines"], Value::Null);
    assert_eq!(saved["email"]["review_attempts"], 5);
    assert_eq!(saved["country_mismatch"], "ignore");
    assert_eq!(saved["disposable_email"], false);
    assert_eq!(
        saved["extra_disposable_domains"],
        json!(["spam.example", "trash.example"])
    );
    assert_eq!(saved["allow_emails"], json!(["vip@example.com"]));
    for (changes, status, words) in [
        (&[("review_amount", "6000")][..], 422, "Review_amount_minor"),
        (
            &[("email_block_attempts", "lots")][..],
            400,
            "Enter the attempts and declines as whole numbers",
        ),
        (
            &[("extra_disposable_domains", "not a domain!")][..],
            400,
            "Extra_disposable_domains must be domain names",
        ),
        (
            &[("allow_customer_ids", "someone")][..],
            400,
            "Enter customer ids",
        ),
        (
            &[("block_amount", "0")][..],
            400,
            "Block_amount_minor must be 1 to",
        ),
    ] {
        let p = ada
            .post("/admin/settings/risk", &pairs(&risk_form(&token, changes)))
            .await;
        assert_eq!(p.status, status, "{changes:?}: {}", p.body);
        refused_with(&p.body, words);
        assert!(p.body.contains("vip@example.com"), "kept as typed");
    }
    assert_eq!(api(&stack, &shop, "/admin/api/settings/risk").await, saved);
}

#[tokio::test]
async fn the_owner_walks_the_settings_in_a_browser_and_every_page_is_accessible() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    let shop = open_store(&stack, "setpages").await;
    let url = |path: &str| store_url(&stack, &shop.host, path);

    b.goto(&url("/admin/login?next=%2Fadmin%2Fsettings")).await;
    b.fill("#email", OWNER.0).await;
    b.fill("#password", OWNER.1).await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Settings").await;
    b.wait_for_text_in("[data-store-handle]", "setpages").await;
    b.screenshot("docs/admin/settings-desktop.png").await;
    b.assert_accessible("the settings").await;

    // A location added with the form, then its page.
    b.click("a[href='/admin/settings/locations']").await;
    b.wait_for_text_in("h1", "Locations").await;
    b.fill("#new-name", "Warehouse East").await;
    b.fill("#new-line1", "1 Dock Road").await;
    b.fill("#new-city", "Hamburg").await;
    b.fill("#new-country", "DE").await;
    b.fill("#new-priority", "5").await;
    b.click(".location-form button[type=submit]").await;
    b.wait_for_text("The location was added.").await;
    b.wait_for("tr[data-location='Warehouse East']").await;
    b.screenshot("docs/admin/settings-locations-desktop.png")
        .await;
    b.assert_accessible("the locations").await;
    b.click("tr[data-location='Warehouse East'] a").await;
    b.wait_for_text_in("h1", "Warehouse East").await;
    b.assert_accessible("a location").await;

    // A shipping rate filled in a blank row; a refusal shown on the page.
    b.goto(&url("/admin/settings/shipping")).await;
    b.wait_for_text_in("h1", "Shipping rates").await;
    b.fill("#code-1", "express").await;
    b.fill("#name-1", "Express").await;
    b.fill("#price-1", "15").await;
    b.fill("#countries-1", "US, CA").await;
    b.click(".rates-form button[type=submit]").await;
    b.wait_for_text("The shipping rates were saved.").await;
    b.screenshot("docs/admin/settings-shipping-desktop.png")
        .await;
    b.assert_accessible("the shipping rates").await;
    b.fill("#code-2", "express").await;
    b.fill("#name-2", "Again").await;
    b.fill("#price-2", "1").await;
    b.click(".rates-form button[type=submit]").await;
    b.wait_for_text("Code express appears twice.").await;
    b.assert_accessible("a refused rate table").await;
    let rates = api(&stack, &shop, "/admin/api/shipping-rates").await;
    assert_eq!(rates["rates"][1]["countries"], json!(["US", "CA"]));
    assert_eq!(rates["rates"].as_array().expect("rates").len(), 2);

    b.goto(&url("/admin/settings/taxes")).await;
    b.wait_for_text_in("h1", "Tax rates").await;
    b.fill("#country-0", "US").await;
    b.fill("#region-0", "CA").await;
    b.fill("#rate-0", "7.25").await;
    b.fill("#name-0", "Sales tax").await;
    b.fill("#country-1", "DE").await;
    b.fill("#rate-1", "19").await;
    b.click(".rates-form button[type=submit]").await;
    b.wait_for_text("The tax rates were saved.").await;
    b.screenshot("docs/admin/settings-taxes-desktop.png").await;
    b.assert_accessible("the tax rates").await;

    for (path, heading, shot) in [
        (
            "/admin/settings/returns",
            "Returns policy",
            "settings-returns",
        ),
        ("/admin/settings/risk", "Risk rules", "settings-risk"),
        ("/admin/settings/mail", "Mail", "settings-mail"),
    ] {
        b.goto(&url(path)).await;
        b.wait_for_text_in("h1", heading).await;
        b.screenshot(format!("docs/admin/{shot}-desktop.png")).await;
        b.assert_accessible(heading).await;
    }
    b.close().await;
}
