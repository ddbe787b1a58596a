//! The platform's pages in a real headless Chromium (tests/common/browser.rs)
//! through the router: a merchant reads the landing page, signs up on the
//! form (the handle checked as they type), lands in the new store's admin
//! on the store's domain, signs out, and signs in again from the platform's
//! sign-in page. axe-core checks every page; the journey saves screenshots
//! under docs/platform/.

mod common;

use common::browser::{store_url, Browser};
use common::{Stack, PLATFORM};

#[tokio::test]
async fn a_merchant_signs_up_lands_in_the_admin_and_signs_in_again_from_the_platform() {
    let (stack, b) = tokio::join!(Stack::start(1), Browser::desktop());
    // A store whose handle the merchant will try first.
    stack.create_store("teashop").await;

    b.goto(&store_url(&stack, PLATFORM, "/")).await;
    b.wait_for_text_in("h1", "Your shop").await;
    b.screenshot("docs/platform/landing-desktop.png").await;
    b.assert_accessible("the landing page").await;
    b.click(".hero-actions a[href='/signup']").await;
    b.wait_for_text_in("h1", "Create your store").await;

    b.fill("#email", "ada@teashop.example").await;
    b.fill("#password", "correct horse battery").await;
    b.fill("#store_name", "Tea Shop").await;
    // The handle made from the name is taken: the form says so as it goes.
    b.wait_for_text_in("#handle-status", "tea-shop is available")
        .await;
    b.fill("#handle", "teashop").await;
    b.wait_for_text_in("#handle-status", "teashop: this handle is taken")
        .await;
    b.fill("#handle", "adas-teas").await;
    b.wait_for_text_in("#handle-status", "adas-teas is available")
        .await;
    b.select("#currency", "EUR").await;
    b.screenshot("docs/platform/signup-desktop.png").await;
    b.assert_accessible("the signup form").await;
    b.click(".stack-form button[type=submit]").await;

    // Handed over to the new store's admin, on the store's own domain.
    b.wait_for_text_in("h1", "Dashboard").await;
    let url = b.current_url().await;
    assert!(
        url.starts_with(&format!("http://adas-teas.{PLATFORM}:")) && url.ends_with("/admin"),
        "{url}"
    );
    b.wait_for_text_in(".admin-brand", "Tea Shop").await;
    // The owner: the staff page is theirs.
    b.wait_for("nav a[href='/admin/settings/staff']").await;
    b.assert_accessible("the new store's dashboard").await;
    b.click("nav form[action='/admin/logout'] button").await;
    b.wait_for_text_in("h1", "Sign in to Tea Shop").await;

    // Back through the platform's sign-in: one store, handed over at once.
    b.goto(&store_url(&stack, PLATFORM, "/login")).await;
    b.wait_for_text_in("h1", "Sign in to your store").await;
    b.fill("#email", "ada@teashop.example").await;
    b.fill("#password", "not my password").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("[role=alert]", "do not match").await;
    b.screenshot("docs/platform/login-desktop.png").await;
    b.assert_accessible("the sign-in page with its refusal")
        .await;
    b.fill("#password", "correct horse battery").await;
    b.click(".stack-form button[type=submit]").await;
    b.wait_for_text_in("h1", "Dashboard").await;
    assert!(b
        .current_url()
        .await
        .starts_with(&format!("http://adas-teas.{PLATFORM}:")));
    b.close().await;
    stack.shutdown().await;
}
