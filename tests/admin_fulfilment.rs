//! Fulfilment, returns and the theme in the admin, over HTTP through the
//! router as a browser without script uses them: a staff member (not the
//! owner: the API lets any staff member do all of this) ships an order in
//! two parts with tracking and moves each shipment to delivered, decides
//! returns from the returns page and from the order's page, and sets the
//! theme with a preview that shows the draft before it is saved. Each
//! effect is read back through the JSON API the forms share their writes
//! with; refusals are told on the page, with what was typed. The last test
//! walks the same pages in Chromium with axe-core and takes the
//! screenshots of docs/admin/.

mod common;

use common::browser::{store_url, Browser};
use common::shop::{Shop, CARD_OK};
use common::web::{client, csrf, urlencode, Page, WebClient};
use common::Stack;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use serde_json::{json, Value};

/// `GET` or another read of the JSON API as the store's staff.
async fn api(stack: &Stack, shop: &Shop, path: &str) -> Value {
    let r = stack
        .get(&shop.host, path)
        .bearer_auth(&shop.staff)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

/// A guest's paid order of `lines` (variant, units).
async fn place(stack: &Stack, shop: &Shop, lines: &[(&str, i64)], key: &str) -> Value {
    let cart = shop.cart(stack, lines).await;
    let r = shop
        .checkout(stack, &cart, key, CARD_OK)
        .send()
        .await
        .expect("checkout");
    assert_eq!(r.status(), 201, "checkout");
    r.json().await.expect("json")
}

/// The position of the order's line of `sku`.
fn line_of(order: &Value, sku: &str) -> usize {
    order["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .position(|l| l["sku"] == sku)
        .expect("a line of the sku")
}

/// A staff member (not the owner), signed in to the admin in a browser
/// without script.
async fn staff_signed_in<'a>(stack: &'a Stack, shop: &Shop, email: &str) -> WebClient<'a> {
    shop.staff_member(stack, email, "a long staff password")
        .await;
    let mut b = WebClient::new(stack, &shop.host);
    let p = b
        .post(
            "/admin/login",
            &[
                ("email", email),
                ("password", "a long staff password"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "signing in: {}", p.body);
    b
}

/// The value of the hidden field `name` of a page's first form that has
/// one.
fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a hidden field {name}"))
        .to_owned()
}

/// The part of a page from the element marked `marker` to the next one
/// marked alike.
fn part<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html.find(marker).unwrap_or_else(|| panic!("{marker}"));
    let rest = &html[start + marker.len()..];
    let attribute = &marker[..=marker.find('"').expect("a quoted value")];
    let end = rest.find(attribute).unwrap_or(rest.len());
    &rest[..end]
}

/// The shipments of an order through the API.
async fn shipments(stack: &Stack, shop: &Shop, order: &str) -> Vec<Value> {
    api(stack, shop, &format!("/admin/api/orders/{order}/shipments"))
        .await
        .as_array()
        .expect("shipments")
        .clone()
}

/// Posts `form` (pairs) from a page of the store.
async fn send(b: &mut WebClient<'_>, path: &str, form: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(path, &pairs).await
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The order page's form that ships units waiting at `location`.
struct ShipForm {
    token: String,
    location: String,
    lamps: String,
    bulbs: String,
}

impl ShipForm {
    fn with(&self, lamps: &str, bulbs: &str, url: &str, status: &str) -> Vec<(String, String)> {
        owned(&[
            ("csrf", &self.token),
            ("form", &format!("ship-{}", self.location)),
            ("location", &self.location),
            (&self.lamps, lamps),
            (&self.bulbs, bulbs),
            ("carrier", "DHL Express"),
            ("tracking_number", "JD0001"),
            ("tracking_url", url),
            ("status", status),
        ])
    }
}

fn with_status<'a>(shipments: &'a [Value], status: &str) -> Vec<&'a Value> {
    shipments.iter().filter(|s| s["status"] == status).collect()
}

#[tokio::test]
async fn staff_ship_an_order_in_two_parts_with_tracking_and_move_each_shipment_to_delivered() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "shipshop").await;
    let other = Shop::open(&stack, "othershop").await;
    let (_, lamp) = shop.product(&stack, "LAMP", 4500, 10).await;
    let (_, bulb) = shop.product(&stack, "BULB", 500, 10).await;
    let order = place(&stack, &shop, &[(&lamp, 3), (&bulb, 1)], "ship-1").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let (lamps, bulbs) = (
        format!("qty_{}", line_of(&order, "LAMP")),
        format!("qty_{}", line_of(&order, "BULB")),
    );
    let mut b = staff_signed_in(&stack, &shop, "bob@shipshop.example").await;

    let page = format!("/admin/orders/{id}");
    let p = b.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Waiting to ship from Default"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains(&format!(
            "name=\"{lamps}\" type=\"number\" min=\"0\" max=\"3\""
        )),
        "every waiting unit offered: {}",
        p.body
    );
    let token = csrf(&p.body);
    let location = hidden(&p.body, "location");
    let ship = format!("{page}/shipments");
    let ship_form = ShipForm {
        token: token.clone(),
        location: location.clone(),
        lamps,
        bulbs,
    };

    // A form without the session's token, or from another site, does
    // nothing.
    let mut no_token = ship_form.with("1", "0", "", "label_created");
    no_token.retain(|(k, _)| k != "csrf");
    assert_eq!(send(&mut b, &ship, &no_token).await.status, 403);
    let pairs = ship_form.with("1", "0", "", "label_created");
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = b.post_from("https://evil.example", &ship, &pairs).await;
    assert_eq!(p.status, 403);

    // Bad input is told in words, on the order's page, with what was typed.
    let p = send(
        &mut b,
        &ship,
        &ship_form.with("two", "0", "", "label_created"),
    )
    .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("role=\"alert\""));
    assert!(p.body.contains("whole numbers"), "{}", p.body);
    assert!(p.body.contains("value=\"two\""), "the units typed are kept");
    assert!(
        p.body.contains("value=\"DHL Express\""),
        "the carrier typed is kept"
    );
    let p = send(
        &mut b,
        &ship,
        &ship_form.with("5", "0", "", "label_created"),
    )
    .await;
    assert_eq!(p.status, 409, "more units than wait: {}", p.body);
    assert!(p.body.contains("waiting at this location"), "{}", p.body);
    let p = send(
        &mut b,
        &ship,
        &ship_form.with("0", "0", "", "label_created"),
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Choose at least one unit to ship."));
    let p = send(
        &mut b,
        &ship,
        &ship_form.with("1", "0", "javascript:alert(1)", "label_created"),
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("https:// or http:// address"), "{}", p.body);
    let mut elsewhere = ship_form.with("1", "0", "", "label_created");
    elsewhere[2].1 = uuid::Uuid::now_v7().to_string();
    let p = send(&mut b, &ship, &elsewhere).await;
    assert_eq!(p.status, 409, "no unit waits at an unknown location");
    let now = shipments(&stack, &shop, &id).await;
    assert_eq!(now.len(), 1, "nothing shipped: {now:?}");
    assert_eq!(now[0]["status"], "pending");

    // Two lamps, packed, with tracking.
    let p = send(
        &mut b,
        &ship,
        &ship_form.with("2", "0", "https://track.example/JD0001", "label_created"),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=shipment-created")),
        "{}",
        p.body
    );
    let now = shipments(&stack, &shop, &id).await;
    let packed = with_status(&now, "label_created");
    assert_eq!(packed.len(), 1, "{now:?}");
    let first = packed[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(packed[0]["carrier"], "DHL Express");
    assert_eq!(packed[0]["tracking_number"], "JD0001");
    assert_eq!(packed[0]["tracking_url"], "https://track.example/JD0001");
    assert_eq!(packed[0]["lines"][0]["quantity"], 2);
    let waiting = with_status(&now, "pending");
    let units: i64 = waiting[0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["quantity"].as_i64().expect("units"))
        .sum();
    assert_eq!(units, 2, "a lamp and the bulb wait");
    let p = b.get(&format!("{page}?done=shipment-created")).await;
    assert!(p.body.contains("The shipment was created."));
    // Only the steps the lifecycle allows are offered.
    let card = part(&p.body, &format!("data-shipment=\"{first}\""));
    assert!(card.contains("data-step=\"shipped\""), "{card}");
    assert!(card.contains("data-step=\"cancelled\""), "{card}");
    assert!(!card.contains("data-step=\"delivered\""), "{card}");
    assert!(!card.contains("data-step=\"in_transit\""), "{card}");

    // Its tracking, edited.
    let shipment_form = |form: &[(&str, &str)]| {
        let mut pairs = vec![
            ("csrf".to_owned(), token.clone()),
            ("form".to_owned(), format!("shipment-{first}")),
        ];
        pairs.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        pairs
    };
    let one = format!("{page}/shipments/{first}");
    let p = send(
        &mut b,
        &one,
        &shipment_form(&[
            ("carrier", "UPS"),
            ("tracking_number", "1Z999"),
            ("tracking_url", ""),
        ]),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=shipment-tracking"))
    );
    let now = shipments(&stack, &shop, &id).await;
    let s = now
        .iter()
        .find(|s| s["id"] == first.as_str())
        .expect("first");
    assert_eq!(
        (&s["carrier"], &s["tracking_number"], &s["tracking_url"]),
        (&json!("UPS"), &json!("1Z999"), &json!(""))
    );
    let p = send(
        &mut b,
        &one,
        &shipment_form(&[("carrier", &"x".repeat(101)), ("tracking_number", "1Z999")]),
    )
    .await;
    assert_eq!(p.status, 400, "a carrier too long");
    assert!(p.body.contains("at most 100 characters"), "{}", p.body);

    let status = format!("{one}/status");
    let step = |to: &str| {
        shipment_form(&[
            ("carrier", "UPS"),
            ("tracking_number", "1Z999"),
            ("tracking_url", ""),
            ("status", to),
        ])
    };
    // Unknown ids are not found.
    let unknown = format!("{page}/shipments/{}", uuid::Uuid::now_v7());
    assert_eq!(
        send(&mut b, &unknown, &shipment_form(&[])).await.status,
        404
    );
    let p = send(
        &mut b,
        &format!("{page}/shipments/x/status"),
        &step("shipped"),
    )
    .await;
    assert_eq!(p.status, 404);

    // A step the lifecycle does not allow is told, and nothing moves.
    let p = send(&mut b, &status, &step("delivered")).await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("cannot become delivered"), "{}", p.body);
    let p = send(&mut b, &status, &step("lost")).await;
    assert_eq!(p.status, 400);
    let now = shipments(&stack, &shop, &id).await;
    assert_eq!(with_status(&now, "label_created").len(), 1);

    // Shipped: the order is partly fulfilled.
    let p = send(&mut b, &status, &step("shipped")).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=shipment-shipped"))
    );
    let o = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await;
    assert_eq!(o["status"], "partially_fulfilled");

    // The rest, handed to the carrier at once: the order is fulfilled.
    let p = send(&mut b, &ship, &ship_form.with("1", "1", "", "shipped")).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let now = shipments(&stack, &shop, &id).await;
    assert!(with_status(&now, "pending").is_empty(), "{now:?}");
    let second = now
        .iter()
        .find(|s| s["id"] != first.as_str())
        .expect("second")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let o = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await;
    assert_eq!(o["status"], "fulfilled");

    // In transit, then delivered; the order with its last parcel.
    for to in ["in_transit", "delivered"] {
        let p = send(&mut b, &status, &step(to)).await;
        assert_eq!(p.status, 303, "{to}: {}", p.body);
    }
    let o = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await;
    assert_eq!(o["status"], "fulfilled", "one parcel is still on its way");
    let p = send(
        &mut b,
        &format!("{page}/shipments/{second}/status"),
        &owned(&[("csrf", &token), ("status", "delivered")]),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let o = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await;
    assert_eq!(o["status"], "delivered");
    let now = shipments(&stack, &shop, &id).await;
    assert!(now.iter().all(|s| s["status"] == "delivered"), "{now:?}");
    let p = b.get(&page).await;
    assert!(!p.body.contains("data-step="), "nothing left to move");
    assert!(p.body.contains("1Z999"), "the tracking is shown");
    // Delivered: the API refuses changes, and so does the page.
    let p = send(&mut b, &one, &shipment_form(&[("carrier", "DHL")])).await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("role=\"alert\""));

    // Another store's order is not found.
    let (_, theirs) = other.product(&stack, "THEIRS", 1000, 5).await;
    let their_order = place(&stack, &other, &[(&theirs, 1)], "theirs").await;
    let their_id = their_order["id"].as_str().expect("id");
    let p = send(
        &mut b,
        &format!("/admin/orders/{their_id}/shipments"),
        &ship_form.with("1", "0", "", "label_created"),
    )
    .await;
    assert_eq!(p.status, 404);
    assert_eq!(
        shipments(&stack, &other, their_id).await[0]["status"],
        "pending"
    );

    // Signed out, or signed in to another store: sent to sign in.
    let mut nobody = WebClient::new(&stack, &shop.host);
    let p = send(
        &mut nobody,
        &ship,
        &ship_form.with("1", "0", "", "label_created"),
    )
    .await;
    assert_eq!(p.status, 303);
    assert!(p.location.starts_with("/admin/login"), "{}", p.location);
    let mut elsewhere = WebClient::new(&stack, &other.host);
    elsewhere.cookies = b.cookies.clone();
    let p = elsewhere.get(&format!("/admin/orders/{their_id}")).await;
    assert_eq!(p.status, 303, "another store's session is nobody here");
    stack.shutdown().await;
}

/// A return through the API.
async fn api_return(stack: &Stack, shop: &Shop, id: &str) -> Value {
    api(stack, shop, &format!("/admin/api/returns/{id}")).await
}

/// The guest's returns path with the order's lookup token.
fn returns_path(order: &Value) -> String {
    let link = order["confirmation_path"].as_str().expect("link");
    let (path, token) = link.split_once("?token=").expect("token");
    format!("{path}/returns?token={token}")
}

/// A return the shopper opens of `units` of the order's line `line`.
async fn open_return(stack: &Stack, shop: &Shop, order: &Value, line: usize, units: i64) -> String {
    let r = stack
        .post(&shop.host, &returns_path(order))
        .json(&json!({"lines": [{"line": line, "quantity": units}], "reason": "does not fit"}))
        .send()
        .await
        .expect("open return");
    assert_eq!(r.status(), 201, "opening a return");
    let r: Value = r.json().await.expect("json");
    r["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn staff_approve_reject_and_receive_returns_from_the_returns_page_and_the_orders_page() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "returnshop").await;
    let other = Shop::open(&stack, "elsewhere").await;
    let (_, shirt) = shop.product(&stack, "SHIRT", 2000, 10).await;
    let (_, hat) = shop.product(&stack, "HAT", 1000, 10).await;
    let order = place(&stack, &shop, &[(&shirt, 2), (&hat, 1)], "ret-1").await;
    let id = order["id"].as_str().expect("id").to_owned();
    shop.deliver(&stack, &id).await;
    let (shirts, hats) = (line_of(&order, "SHIRT"), line_of(&order, "HAT"));
    let first = open_return(&stack, &shop, &order, shirts, 1).await;
    let second = open_return(&stack, &shop, &order, hats, 1).await;
    let third = open_return(&stack, &shop, &order, shirts, 1).await;
    let mut b = staff_signed_in(&stack, &shop, "eve@returnshop.example").await;

    // The dashboard links the returns to decide; the page lists them.
    let p = b.get("/admin").await;
    assert!(
        p.body
            .contains("<a href=\"/admin/returns\">3 returns to decide</a>"),
        "{}",
        p.body
    );
    let p = b.get("/admin/returns").await;
    assert_eq!(p.status, 200);
    for r in [&first, &second, &third] {
        assert!(p.body.contains(&format!("data-return=\"{r}\"")), "{r}");
    }
    assert!(p.body.contains("Product SHIRT"), "the lines' titles");
    assert!(p.body.contains(&format!("#{}", order["number"])));
    let token = csrf(&p.body);
    let decide = |what: &str, back: &str, note: &str, form: &str| {
        vec![
            ("csrf".to_owned(), token.clone()),
            ("form".to_owned(), form.to_owned()),
            ("back".to_owned(), back.to_owned()),
            ("list".to_owned(), "requested".to_owned()),
            ("note".to_owned(), note.to_owned()),
            ("what".to_owned(), what.to_owned()),
        ]
    };

    // A rejection needs a reason: told on the returns page.
    let reject = format!("/admin/returns/{second}/reject");
    let p = send(
        &mut b,
        &reject,
        &decide("reject", "returns", "  ", &format!("reject-{second}")),
    )
    .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(
        p.body.contains("Note must be 1 to 500 characters."),
        "{}",
        p.body
    );
    assert_eq!(
        api_return(&stack, &shop, &second).await["status"],
        "requested"
    );
    let p = send(
        &mut b,
        &reject,
        &decide(
            "reject",
            "returns",
            "Worn, with a stain",
            &format!("reject-{second}"),
        ),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/returns?status=requested&done=return-rejected")
    );
    let r = api_return(&stack, &shop, &second).await;
    assert_eq!(
        (&r["status"], &r["note"]),
        (&json!("rejected"), &json!("Worn, with a stain"))
    );
    let p = b.get(&p.location).await;
    assert!(p.body.contains("The return was rejected."));
    assert!(
        !p.body.contains(&format!("data-return=\"{second}\"")),
        "decided"
    );

    // Approved on the order's page, which goes back to the order.
    let page = format!("/admin/orders/{id}");
    let p = b.get(&page).await;
    assert!(p.body.contains(&format!("data-return=\"{first}\"")));
    let approve = format!("/admin/returns/{first}/approve");
    let p = send(
        &mut b,
        &approve,
        &decide(
            "approve",
            "order",
            "Send it back in its box",
            &format!("approve-{first}"),
        ),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=return-approved"))
    );
    let r = api_return(&stack, &shop, &first).await;
    assert_eq!(
        (&r["status"], &r["note"]),
        (&json!("approved"), &json!("Send it back in its box"))
    );
    // Twice: the lifecycle's refusal, on the order's page.
    let p = send(
        &mut b,
        &approve,
        &decide("approve", "order", "again", &format!("approve-{first}")),
    )
    .await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("Order #"), "the order's page");
    assert!(p.body.contains("cannot become approved"), "{}", p.body);

    // Received: restocked and refunded, as the API receives it.
    let p = b.get(&page).await;
    assert!(p.body.contains(&format!("name=\"condition_{shirts}\"")));
    let before = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await["refunded_minor"]
        .as_i64()
        .expect("refunded");
    let receive = format!("/admin/returns/{first}/receive");
    let receipt = |condition: &str| {
        vec![
            ("csrf".to_owned(), token.clone()),
            ("form".to_owned(), format!("receive-{first}")),
            ("back".to_owned(), "order".to_owned()),
            (format!("condition_{shirts}"), condition.to_owned()),
            (format!("restock_{shirts}"), "1".to_owned()),
        ]
    };
    let p = send(&mut b, &receive, &receipt("soggy")).await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("condition of each line"), "{}", p.body);
    assert_eq!(
        api_return(&stack, &shop, &first).await["status"],
        "approved"
    );
    let (on_hand_before, _) = shop.stock(&stack, &shirt).await;
    let p = send(&mut b, &receive, &receipt("opened")).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, &*format!("{page}?done=return-refunded")),
        "{}",
        p.body
    );
    let r = api_return(&stack, &shop, &first).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(r["lines"][0]["condition"], "opened");
    assert_eq!(r["lines"][0]["restock"], true);
    let refund = r["refund_minor"].as_i64().expect("refund");
    assert!(refund >= 2000, "the shirt's price at least: {refund}");
    let after = api(&stack, &shop, &format!("/admin/api/orders/{id}")).await["refunded_minor"]
        .as_i64()
        .expect("refunded");
    assert_eq!(after - before, refund);
    assert_eq!(
        shop.stock(&stack, &shirt).await.0,
        on_hand_before + 1,
        "restocked"
    );
    let p = b.get(&format!("{page}?done=return-refunded")).await;
    assert!(p.body.contains("The return was received and refunded."));
    assert!(
        p.body.contains("data-return-refund>"),
        "the refund is shown"
    );

    // The third, approved from the list and found under its status.
    let p = send(
        &mut b,
        &format!("/admin/returns/{third}/approve"),
        &decide("approve", "returns", "", &format!("approve-{third}")),
    )
    .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        api_return(&stack, &shop, &third).await["status"],
        "approved"
    );
    let p = b.get("/admin/returns?status=approved").await;
    assert!(p.body.contains(&format!("data-return=\"{third}\"")));
    assert!(p.body.contains("Receive and refund"));
    let p = b.get("/admin/returns?status=completed").await;
    assert!(p.body.contains(&format!("data-return=\"{first}\"")));
    let p = b.get("/admin/returns").await;
    assert!(
        p.body.contains("No return waits for a decision."),
        "{}",
        p.body
    );

    // Bad queries, unknown ids and another store's return.
    assert_eq!(b.get("/admin/returns?status=lost").await.status, 400);
    assert_eq!(b.get("/admin/returns?after=x").await.status, 400);
    let unknown = format!("/admin/returns/{}/approve", uuid::Uuid::now_v7());
    assert_eq!(
        send(&mut b, &unknown, &decide("approve", "returns", "", ""))
            .await
            .status,
        404
    );
    assert_eq!(
        send(
            &mut b,
            "/admin/returns/x/reject",
            &decide("reject", "returns", "no", "")
        )
        .await
        .status,
        404
    );
    let (_, theirs) = other.product(&stack, "THEIRS", 1000, 5).await;
    let their_order = place(&stack, &other, &[(&theirs, 1)], "theirs").await;
    other
        .deliver(&stack, their_order["id"].as_str().expect("id"))
        .await;
    let their_return = open_return(&stack, &other, &their_order, 0, 1).await;
    let p = send(
        &mut b,
        &format!("/admin/returns/{their_return}/approve"),
        &decide("approve", "returns", "", ""),
    )
    .await;
    assert_eq!(p.status, 404);
    let theirs_now = api(
        &stack,
        &other,
        &format!("/admin/api/returns/{their_return}"),
    )
    .await;
    assert_eq!(theirs_now["status"], "requested");

    // Without the session's token, or signed out: nothing changes.
    let mut no_token = decide("reject", "returns", "no", "");
    no_token.retain(|(k, _)| k != "csrf");
    let p = send(&mut b, &format!("/admin/returns/{third}/reject"), &no_token).await;
    assert_eq!(p.status, 403);
    let mut nobody = WebClient::new(&stack, &shop.host);
    let p = nobody.get("/admin/returns").await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/login?next=%2Fadmin%2Freturns")
    );
    assert_eq!(
        api_return(&stack, &shop, &third).await["status"],
        "approved"
    );
    stack.shutdown().await;
}

/// A form posted to the admin, with its raw response (headers included).
async fn post_raw(
    b: &WebClient<'_>,
    origin: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    client()
        .post(format!("{}{path}", b.stack.router.url()))
        .header("host", &b.host)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, origin)
        .header(COOKIE, b.cookie_header())
        .body(body)
        .send()
        .await
        .expect("post")
}

/// The storefront's home page as shoppers get it.
async fn storefront(stack: &Stack, shop: &Shop) -> String {
    let r = stack.get(&shop.host, "/").send().await.expect("home");
    assert_eq!(r.status(), 200);
    r.text().await.expect("body")
}

#[tokio::test]
async fn staff_preview_a_draft_theme_in_a_frame_of_the_admin_then_save_it_for_the_storefront() {
    let stack = Stack::start(1).await;
    let shop = Shop::open(&stack, "themeshop").await;
    let (product, _) = shop.product(&stack, "VASE", 3000, 5).await;
    let picture = mercato_devstack::demo_art::picture(
        mercato_devstack::demo_art::Shape::Mug,
        [200, 40, 40],
        [236, 232, 224],
    );
    let r = stack
        .post(
            &shop.host,
            &format!("/admin/api/products/{product}/images?alt=Red%20vase"),
        )
        .bearer_auth(&shop.staff)
        .header("content-type", "image/png")
        .body(picture)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    let with_image: Value = r.json().await.expect("json");
    let logo = with_image["images"][0]["url"]
        .as_str()
        .expect("the image's url")
        .to_owned();
    let saved_before = api(&stack, &shop, "/admin/api/settings/theme").await;
    let mut b = staff_signed_in(&stack, &shop, "dan@themeshop.example").await;

    let p = b.get("/admin/settings/theme").await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("<iframe name=\"theme-preview\""),
        "the preview"
    );
    assert!(p.body.contains("src=\"/admin/settings/theme/preview\""));
    assert!(
        p.body.contains(&format!("value=\"{logo}\"")),
        "the store's images are offered as the logo: {}",
        p.body
    );
    let token = csrf(&p.body);
    let origin = format!("http://{}", shop.host);
    let draft = |accent: &'static str, url: &'static str| {
        let token = token.clone();
        let logo = logo.clone();
        move || -> Vec<(String, String)> {
            [
                ("csrf", token.as_str()),
                ("accent", accent),
                ("text_colour", "#222222"),
                ("background", "#fffdf8"),
                ("font", "serif"),
                ("logo", logo.as_str()),
                ("logo_other", ""),
                ("heading", "Vases for every table"),
                ("tagline", "Thrown by hand."),
                ("featured", ""),
                ("header_label_0", "Summer sale"),
                ("header_url_0", url),
                ("header_label_1", ""),
                ("header_url_1", ""),
                ("footer_label_0", "Our story"),
                ("footer_url_0", "https://blog.example/story"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
        }
    };

    // The preview renders the draft, framed by the admin's pages only.
    let form = draft("#AB12CD", "/collections/summer")();
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post_raw(&b, &origin, "/admin/settings/theme/preview", &refs).await;
    assert_eq!(r.status(), 200);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("text").to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("x-frame-options"), "SAMEORIGIN");
    assert_eq!(header("content-security-policy"), "frame-ancestors 'self'");
    assert_eq!(header("cache-control"), "private, no-store");
    let preview = r.text().await.expect("body");
    assert!(preview.contains("--accent: #ab12cd"), "{preview}");
    assert!(preview.contains(">Summer sale</a>"), "{preview}");
    assert!(preview.contains("Vases for every table"));
    assert!(preview.contains(&format!("<img class=\"logo\" src=\"{logo}\"")));
    // ... and nothing of it is saved or shown to shoppers.
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/theme").await,
        saved_before
    );
    let live = storefront(&stack, &shop).await;
    assert!(!live.contains("Summer sale"));
    assert!(!live.contains("#ab12cd"));
    // The frame's first page: the saved settings.
    let p = b.get("/admin/settings/theme/preview").await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains("Summer sale"));

    // A draft the API would refuse is refused in the frame, in words.
    let p = send(
        &mut b,
        "/admin/settings/theme/preview",
        &draft("red", "/collections/summer")(),
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("The accent colour must be #rrggbb."),
        "{}",
        p.body
    );
    // Staff only, with the session's token, from this site.
    let mut no_token = draft("#ab12cd", "/")();
    no_token.retain(|(k, _)| k != "csrf");
    let refs: Vec<(&str, &str)> = no_token
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post_raw(&b, &origin, "/admin/settings/theme/preview", &refs).await;
    assert_eq!(r.status(), 403);
    let form = draft("#ab12cd", "/")();
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post_raw(
        &b,
        "https://evil.example",
        "/admin/settings/theme/preview",
        &refs,
    )
    .await;
    assert_eq!(r.status(), 403);
    let nobody = WebClient::new(&stack, &shop.host);
    let r = post_raw(&nobody, &origin, "/admin/settings/theme/preview", &refs).await;
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.expect("body").contains("Summer"));

    // Saving a link the API refuses: told on the page, with what was typed.
    let p = send(
        &mut b,
        "/admin/settings/theme",
        &draft("#ab12cd", "javascript:alert(1)")(),
    )
    .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(
        p.body
            .contains("Header link 1&#39;s address must be a path of the store"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"Summer sale\""), "typed label kept");
    assert!(p.body.contains("value=\"Vases for every table\""));
    assert_eq!(
        api(&stack, &shop, "/admin/api/settings/theme").await,
        saved_before
    );
    let mut bad_font = draft("#ab12cd", "/")();
    bad_font.retain(|(k, _)| k != "font");
    bad_font.push(("font".to_owned(), "comic".to_owned()));
    assert_eq!(
        send(&mut b, "/admin/settings/theme", &bad_font)
            .await
            .status,
        400
    );
    let mut no_token = draft("#ab12cd", "/")();
    no_token.retain(|(k, _)| k != "csrf");
    assert_eq!(
        send(&mut b, "/admin/settings/theme", &no_token)
            .await
            .status,
        403
    );

    // Saved: the API reads it back, and shoppers see it.
    let p = send(
        &mut b,
        "/admin/settings/theme",
        &draft("#AB12CD", "/collections/summer")(),
    )
    .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/admin/settings/theme?done=saved"),
        "{}",
        p.body
    );
    let saved = api(&stack, &shop, "/admin/api/settings/theme").await;
    assert_eq!(
        saved,
        json!({
            "colours": {"accent": "#ab12cd", "text": "#222222", "background": "#fffdf8"},
            "font": "serif",
            "logo_url": logo,
            "home": {"heading": "Vases for every table", "tagline": "Thrown by hand.",
                "featured_collections": [], "show_new_arrivals": false},
            "header_links": [{"label": "Summer sale", "url": "/collections/summer"}],
            "footer_links": [{"label": "Our story", "url": "https://blog.example/story"}],
        })
    );
    let live = storefront(&stack, &shop).await;
    assert!(live.contains(">Summer sale</a>"), "{live}");
    assert!(live.contains("--accent: #ab12cd"));
    let p = b.get("/admin/settings/theme?done=saved").await;
    assert!(p.body.contains("The theme was saved"));
    assert!(p.body.contains("value=\"#ab12cd\""));
    assert!(
        p.body.contains(&format!("value=\"{logo}\" checked")),
        "the saved logo is chosen"
    );
    let r = client()
        .get(format!("{}/admin/settings/theme", stack.router.url()))
        .header("host", &shop.host)
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .expect("page");
    assert_eq!(
        r.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..]),
        "the admin's own pages are framed by no one"
    );
    let mut signed_out = WebClient::new(&stack, &shop.host);
    let p = signed_out.get("/admin/settings/theme").await;
    assert_eq!(p.status, 303);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_staff_member_ships_an_order_decides_a_return_and_previews_the_theme_in_chromium() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    let shop = Shop::open(&stack, "potshop").await;
    let (_, pot) = shop.product(&stack, "POT", 2500, 20).await;
    let (_, saucer) = shop.product(&stack, "SAUCER", 800, 20).await;
    let to_ship = place(&stack, &shop, &[(&pot, 2), (&saucer, 1)], "b-1").await;
    let delivered = place(&stack, &shop, &[(&pot, 1)], "b-2").await;
    shop.deliver(&stack, delivered["id"].as_str().expect("id"))
        .await;
    open_return(&stack, &shop, &delivered, 0, 1).await;
    shop.staff_member(&stack, "ann@potshop.example", "ann's long password")
        .await;

    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.wait_for_text_in("h1", "Sign in to").await;
    b.fill("#email", "ann@potshop.example").await;
    b.fill("#password", "ann's long password").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Dashboard").await;

    // An order shipped in part, with tracking.
    let id = to_ship["id"].as_str().expect("id");
    b.goto(&store_url(
        &stack,
        &shop.host,
        &format!("/admin/orders/{id}"),
    ))
    .await;
    b.wait_for_text("Waiting to ship from Default").await;
    let saucers = line_of(&to_ship, "SAUCER");
    b.fill(&format!(".ship-form input[name=qty_{saucers}]"), "0")
        .await;
    b.fill(".ship-form input[name=carrier]", "DHL Express")
        .await;
    b.fill(".ship-form input[name=tracking_number]", "JD014600006281")
        .await;
    b.fill(
        ".ship-form input[name=tracking_url]",
        "https://track.example/JD014600006281",
    )
    .await;
    b.click(".ship-form button[type=submit]").await;
    b.wait_for_text("The shipment was created.").await;
    b.wait_for("[data-step=shipped]").await;
    b.assert_accessible("an order with a shipment").await;
    b.click("[data-step=shipped]").await;
    b.wait_for_text("The shipment was marked as shipped.").await;
    b.wait_for_text_in("[data-order-status]", "partially fulfilled")
        .await;
    b.wait_for("[data-step=delivered]").await;
    b.execute(
        "document.getElementById('shipments-heading').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("docs/admin/order-fulfilment-desktop.png")
        .await;
    b.assert_accessible("an order partly shipped").await;

    // The returns to decide, from the dashboard.
    b.goto(&store_url(&stack, &shop.host, "/admin")).await;
    b.click("a[href='/admin/returns']").await;
    b.wait_for_text_in("h1", "Returns").await;
    b.wait_for("[data-return]").await;
    b.fill(".approve-form input[name=note]", "Send it back in its box")
        .await;
    b.screenshot("docs/admin/returns-desktop.png").await;
    b.assert_accessible("the returns to decide").await;
    b.click(".approve-form button[type=submit]").await;
    b.wait_for_text("The return was approved.").await;
    b.wait_for_text("No return waits for a decision.").await;

    // The theme, previewed as it is typed.
    b.goto(&store_url(&stack, &shop.host, "/admin/settings/theme"))
        .await;
    b.wait_for_text_in("h1", "Theme").await;
    let framed = |text: &'static str| {
        let b = &b;
        async move {
            let shown = b
                .execute(
                    "const f = document.querySelector('iframe[name=theme-preview]');
                     return f && f.contentDocument && f.contentDocument.body
                       ? f.contentDocument.body.innerText : '';",
                    vec![],
                )
                .await;
            shown.as_str()?.contains(text).then_some(())
        }
    };
    b.wait_until("the preview shows the store", || framed("Product POT"))
        .await;
    b.fill("#heading", "Pots for every sill").await;
    b.fill("#header_label_0", "Summer sale").await;
    b.fill("#header_url_0", "/collections/summer").await;
    b.wait_until("the preview follows the form", || framed("Summer sale"))
        .await;
    b.wait_until("the preview shows the heading", || {
        framed("Pots for every sill")
    })
    .await;
    // A colour, as the colour picker sets it.
    b.execute(
        "const a = document.getElementById('accent');
         a.value = '#b5341c';
         a.dispatchEvent(new Event('input', { bubbles: true }));",
        vec![],
    )
    .await;
    b.wait_until("the preview takes the draft colour", || async {
        let accent = b
            .execute(
                "const f = document.querySelector('iframe[name=theme-preview]');
                 return f && f.contentDocument && f.contentDocument.documentElement
                   ? getComputedStyle(f.contentDocument.documentElement)
                       .getPropertyValue('--accent').trim()
                   : '';",
                vec![],
            )
            .await;
        (accent.as_str()? == "#b5341c").then_some(())
    })
    .await;
    b.execute("window.scrollTo(0, 0);", vec![]).await;
    b.screenshot("docs/admin/theme-desktop.png").await;
    b.assert_accessible("the theme settings").await;
    // The "Preview" button does the same without script.
    b.fill("#tagline", "Glazed by hand.").await;
    b.click("[data-theme-preview]").await;
    b.wait_until("the preview shows the tagline", || {
        framed("Glazed by hand.")
    })
    .await;
    let saved = api(&stack, &shop, "/admin/api/settings/theme").await;
    assert!(
        saved["header_links"].as_array().expect("links").is_empty(),
        "not saved yet"
    );
    b.click(".theme-actions button:not([data-theme-preview])")
        .await;
    b.wait_for_text("The theme was saved").await;
    let saved = api(&stack, &shop, "/admin/api/settings/theme").await;
    assert_eq!(saved["header_links"][0]["label"], "Summer sale");
    b.close().await;
    stack.shutdown().await;
}
