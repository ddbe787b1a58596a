//! Staff password reset (issue 20), over HTTP through the router: the
//! platform's "forgot your password" page mails a link for each store an
//! owner's email owns; the link's page on the store's admin sets the new
//! password once and ends every session; the admin's own reset page and
//! the JSON API pair do the same; unknown emails get the same answer and
//! no mail.

mod common;

use common::web::WebClient;
use common::{refusal, status_of, Stack, PLATFORM};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;

/// Signs `email` up with a store called `name` at `handle`; waits until
/// the router serves it. The signup's answer (`store`, `token`, ...).
async fn sign_up(stack: &Stack, email: &str, name: &str, handle: &str) -> Value {
    let r = stack
        .at(Method::POST, PLATFORM, "/v1/signup")
        .json(&json!({"email": email, "password": "correct horse battery",
                      "store_name": name, "handle": handle}))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201, "signing up {handle}");
    let created: Value = r.json().await.expect("json");
    let host = host_of(handle);
    stack
        .eventually("the router routes the new store", || async {
            let r = stack.get(&host, "/api/products").send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    created
}

fn host_of(handle: &str) -> String {
    format!("{handle}.{PLATFORM}")
}

/// `POST /admin/api/login`'s status.
async fn api_login(stack: &Stack, host: &str, email: &str, password: &str) -> u16 {
    status_of(
        stack
            .post(host, "/admin/api/login")
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

/// Whether a staff session token still opens the store's API.
async fn session_works(stack: &Stack, host: &str, token: &str) -> bool {
    let status = status_of(stack.get(host, "/admin/api/staff").bearer_auth(token)).await;
    assert!(status == 200 || status == 401, "{status}");
    status == 200
}

/// The code the mail's text gives after "Or enter this code: ".
fn code_in(mail: &Value) -> String {
    mail["text"]
        .as_str()
        .expect("text part")
        .split("Or enter this code: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a code in the mail")
        .to_owned()
}

/// The `staff.password_reset_requested` events recorded for `email` on
/// the stack's first pod.
async fn reset_events(stack: &Stack, email: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(&stack.pods[0].database_url)
        .await
        .expect("pod db");
    sqlx::query_scalar(
        "SELECT count(*) FROM outbox
          WHERE type = 'staff.password_reset_requested' AND payload->>'email' = $1",
    )
    .bind(email)
    .fetch_one(&mut db)
    .await
    .expect("outbox")
}

#[tokio::test]
async fn an_owner_resets_from_the_platform_page_each_store_on_its_own_and_the_link_works_once() {
    let stack = Stack::start(1).await;
    let email = "ada@resets.example";
    let one = sign_up(&stack, email, "Lamps One", "lamps-one").await;
    let two = sign_up(&stack, email, "Lamps Two", "lamps-two").await;
    let (host_one, host_two) = (host_of("lamps-one"), host_of("lamps-two"));
    let old_session = one["token"].as_str().expect("token").to_owned();
    assert!(session_works(&stack, &host_one, &old_session).await);

    // The platform's sign-in links to the reset page, which asks for an
    // email and answers the same page for every email.
    let mut platform = WebClient::new(&stack, PLATFORM);
    let login = platform.get("/login").await;
    assert!(login.body.contains("href=\"/reset\""), "{}", login.body);
    let form = platform.get("/reset").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("<label for=\"email\">") && form.body.contains("action=\"/reset\""),
        "{}",
        form.body
    );
    let bad = platform.post("/reset", &[("email", "not an email")]).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("<p class=\"notice notice-error\" role=\"alert\">"),
        "{}",
        bad.body
    );
    let unknown = platform
        .post("/reset", &[("email", "nobody@resets.example")])
        .await;
    assert_eq!(unknown.status, 202, "{}", unknown.body);
    assert!(
        unknown
            .body
            .contains("If that email owns a store, we have sent a link to each store"),
        "{}",
        unknown.body
    );
    let known = platform
        .post("/reset", &[("email", " Ada@Resets.example ")])
        .await;
    assert_eq!(known.status, 202);
    assert_eq!(known.body, unknown.body, "the same answer for every email");

    // One mail per store the email owns, each with a link to that store's
    // own admin.
    let one_mail = stack
        .await_mails(email, "Reset your password for Lamps One", 1)
        .await;
    let two_mail = stack
        .await_mails(email, "Reset your password for Lamps Two", 1)
        .await;
    let one_mail = stack.mail(&one_mail[0]).await;
    let token = code_in(&one_mail);
    let two_token = code_in(&stack.mail(&two_mail[0]).await);
    assert_ne!(token, two_token);
    for part in ["text", "html"] {
        assert!(
            one_mail[part].as_str().is_some_and(|t| t.contains(&format!(
                "http://{host_one}/admin/reset-password?token={token}"
            ))),
            "{one_mail}"
        );
    }
    assert_eq!(reset_events(&stack, email).await, 2);
    assert_eq!(reset_events(&stack, "nobody@resets.example").await, 0);
    assert!(stack.mails_to("nobody@resets.example").await.is_empty());

    // The store's sign-in links to its own reset page; the mail's link
    // opens the form for the new password.
    let mut admin = WebClient::new(&stack, &host_one);
    let login = admin.get("/admin/login").await;
    assert!(
        login.body.contains("href=\"/admin/reset\""),
        "{}",
        login.body
    );
    let page = admin
        .get(&format!("/admin/reset-password?token={token}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Choose a new password")
            && page.body.contains(&format!("value=\"{token}\""))
            && page.body.contains("<label for=\"password\">"),
        "{}",
        page.body
    );
    // Another store's token is nobody's here.
    let other = admin
        .post(
            "/admin/reset-password",
            &[
                ("token", &two_token),
                ("password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(other.status, 400, "{}", other.body);
    let weak = admin
        .post(
            "/admin/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("role=\"alert\""), "{}", weak.body);
    let done = admin
        .post(
            "/admin/reset-password",
            &[("token", &token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/admin/login?reset=done"),
        "{}",
        done.body
    );
    let notice = admin.get(&done.location).await;
    assert!(
        notice
            .body
            .contains("Your password has been changed. Sign in with the new one."),
        "{}",
        notice.body
    );
    // The link works once.
    let again = admin
        .post(
            "/admin/reset-password",
            &[("token", &token), ("password", "a second new passphrase")],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again.body.contains("expired or was already used")
            && again
                .body
                .contains("<p class=\"notice notice-error\" role=\"alert\">"),
        "{}",
        again.body
    );

    // The old password no longer signs in, the new one does, and the
    // session opened before the reset is over.
    assert_eq!(
        api_login(&stack, &host_one, email, "correct horse battery").await,
        401
    );
    assert_eq!(
        api_login(&stack, &host_one, email, "a brand new passphrase").await,
        200
    );
    assert!(!session_works(&stack, &host_one, &old_session).await);
    let signed_in = admin
        .post(
            "/admin/login",
            &[
                ("email", email),
                ("password", "a brand new passphrase"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(
        (signed_in.status, signed_in.location.as_str()),
        (303, "/admin")
    );

    // Each store's password is its own: the second store's is unchanged
    // until its own link is used, and its session lives on.
    assert_eq!(
        api_login(&stack, &host_two, email, "correct horse battery").await,
        200
    );
    assert!(session_works(&stack, &host_two, two["token"].as_str().expect("token")).await);

    // The platform's sign-in finds the store that takes the new password.
    let handed = platform
        .post(
            "/login",
            &[("email", email), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(handed.status, 200, "{}", handed.body);
    assert!(handed.body.contains("Lamps One"), "{}", handed.body);
    stack.shutdown().await;
}

#[tokio::test]
async fn the_api_and_the_admins_page_reset_enabled_staff_only_and_answer_alike() {
    let stack = Stack::start(1).await;
    let email = "owner@api-reset.example";
    let created = sign_up(&stack, email, "Api Reset", "api-reset").await;
    let host = host_of("api-reset");
    let owner_session = created["token"].as_str().expect("token").to_owned();

    // The same 202 for an owner, an unknown email and any letter case; a
    // malformed email is refused.
    for who in [email, "nobody@api-reset.example", "OWNER@api-reset.example"] {
        let r = stack
            .post(&host, "/admin/api/password-reset")
            .json(&json!({"email": who}));
        assert_eq!(status_of(r).await, 202, "{who}");
    }
    let r = stack
        .post(&host, "/admin/api/password-reset")
        .json(&json!({"email": "nope"}));
    assert_eq!(refusal(r).await, (400, "invalid_email".to_owned()));
    let mails = stack
        .await_mails(email, "Reset your password for Api Reset", 2)
        .await;
    assert_eq!(reset_events(&stack, "nobody@api-reset.example").await, 0);
    let first = code_in(&stack.mail(&mails[0]).await);
    let second = code_in(&stack.mail(&mails[1]).await);

    let confirm = |token: String, password: &'static str| {
        stack
            .post(&host, "/admin/api/password-reset/confirm")
            .json(&json!({"token": token, "password": password}))
    };
    assert_eq!(
        refusal(confirm("not-a-token".into(), "a long new password")).await,
        (400, "invalid_token".to_owned())
    );
    assert_eq!(
        refusal(confirm(first.clone(), "short")).await,
        (422, "weak_password".to_owned())
    );
    // An expired token sets nothing.
    let mut db = sqlx::PgConnection::connect(&stack.pods[0].database_url)
        .await
        .expect("pod db");
    let expired = sqlx::query(
        "UPDATE staff_password_resets SET expires_at = now() - interval '1 minute'
          WHERE token_sha256 = encode(sha256($1::bytea), 'hex')",
    )
    .bind(second.as_bytes())
    .execute(&mut db)
    .await
    .expect("expire")
    .rows_affected();
    assert_eq!(expired, 1, "the reset keeps the token's sha256 only");
    assert_eq!(
        refusal(confirm(second, "a long new password")).await,
        (400, "invalid_token".to_owned())
    );
    assert_eq!(
        status_of(confirm(first.clone(), "a long new password")).await,
        204
    );
    assert_eq!(
        refusal(confirm(first, "another long password")).await,
        (400, "invalid_token".to_owned())
    );
    assert_eq!(
        api_login(&stack, &host, email, "correct horse battery").await,
        401
    );
    assert_eq!(
        api_login(&stack, &host, email, "a long new password").await,
        200
    );
    assert!(!session_works(&stack, &host, &owner_session).await);

    // A staff member (not the owner) asks on the admin's page: the same
    // page as for an unknown email, from this site only.
    let r = stack
        .post(&host, "/admin/api/login")
        .json(&json!({"email": email, "password": "a long new password"}))
        .send()
        .await
        .expect("login");
    let owner: Value = r.json().await.expect("json");
    let owner_token = owner["token"].as_str().expect("token").to_owned();
    let r = stack
        .post(&host, "/admin/api/staff/invitations")
        .bearer_auth(&owner_token)
        .json(&json!({"email": "bob@api-reset.example"}));
    assert_eq!(status_of(r).await, 201);
    let invite = stack
        .await_mails("bob@api-reset.example", "Join Api Reset", 1)
        .await;
    let invite = code_in(&stack.mail(&invite[0]).await);
    let r = stack
        .post(&host, "/admin/api/staff/invitations/accept")
        .json(&json!({"token": invite, "password": "bob's long password"}))
        .send()
        .await
        .expect("accept");
    assert_eq!(r.status(), 201);
    let bob: Value = r.json().await.expect("json");

    let mut admin = WebClient::new(&stack, &host);
    let form = admin.get("/admin/reset").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("<label for=\"email\">")
            && form.body.contains("action=\"/admin/reset\""),
        "{}",
        form.body
    );
    let elsewhere = admin
        .post_from(
            "http://evil.example",
            "/admin/reset",
            &[("email", "bob@api-reset.example")],
        )
        .await;
    assert_eq!(elsewhere.status, 403);
    let unknown = admin
        .post("/admin/reset", &[("email", "nobody@api-reset.example")])
        .await;
    assert_eq!(unknown.status, 202);
    assert!(
        unknown
            .body
            .contains("If that email belongs to a staff member of this store, we have sent a link"),
        "{}",
        unknown.body
    );
    let known = admin
        .post("/admin/reset", &[("email", "bob@api-reset.example")])
        .await;
    assert_eq!(known.status, 202);
    assert_eq!(known.body, unknown.body, "the same answer for every email");
    let bad = admin.post("/admin/reset", &[("email", "bob")]).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("<p class=\"notice notice-error\" role=\"alert\">"),
        "{}",
        bad.body
    );
    let mails = stack
        .await_mails(
            "bob@api-reset.example",
            "Reset your password for Api Reset",
            1,
        )
        .await;
    let bob_token = code_in(&stack.mail(&mails[0]).await);

    // Bob is removed before he uses the link: it sets nothing, and a
    // removed member is sent no other.
    let r = stack
        .at(
            Method::DELETE,
            &host,
            &format!(
                "/admin/api/staff/{}",
                bob["staff"]["id"].as_str().expect("id")
            ),
        )
        .bearer_auth(&owner_token);
    assert_eq!(status_of(r).await, 204);
    assert_eq!(
        refusal(confirm(bob_token, "bob's newer password")).await,
        (400, "invalid_token".to_owned())
    );
    let r = stack
        .post(&host, "/admin/api/password-reset")
        .json(&json!({"email": "bob@api-reset.example"}));
    assert_eq!(status_of(r).await, 202);
    assert_eq!(reset_events(&stack, "bob@api-reset.example").await, 1);
    stack.shutdown().await;
}
