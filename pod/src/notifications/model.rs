//! What a mail says: which events mail someone ([`MAILED`]), and each
//! mail's subject, text and HTML, rendered from the event and the store's
//! face ([`render`]). Pure: no I/O, tested here.
//!
//! Secrets (reset, confirmation and invitation tokens; an order's lookup
//! token) appear only in a [`Mail`]'s body, whose `Debug` leaves the body
//! out, so neither a log line nor an error carries them.

pub use mercato_tenants::text::escape_html as escape;
use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};
use mercato_tenants::events::{Event, EventType};
use mercato_tenants::Money;

/// The events that mail someone; the triggers on `mail_enqueue` (pod
/// migrations `…19_mail.sql`, `…22_order_fulfillment.sql`,
/// `…23_returns.sql`, `…25_abandoned_carts.sql`, `…26_line_cancellation.sql`,
/// `…28_gift_cards.sql`, `…33_staff_password_resets.sql`)
/// queue a delivery for exactly these (a shipment's update only when it
/// shipped, got new tracking on the way, or arrived; an issued refund only
/// when no other mail tells of it: not a return's, not cancelled lines').
pub const MAILED: [EventType; 15] = [
    EventType::OrderPlaced,
    EventType::ShipmentUpdated,
    EventType::CartAbandoned,
    EventType::WebhookDisabled,
    EventType::PasswordResetRequested,
    EventType::CustomerConfirmationRequested,
    EventType::AccountExistsNotice,
    EventType::StaffInvited,
    EventType::StaffPasswordResetRequested,
    EventType::ReturnRequested,
    EventType::ReturnApproved,
    EventType::ReturnCompleted,
    EventType::LinesCancelled,
    EventType::RefundIssued,
    EventType::GiftCardIssued,
];

/// The store as its mails show it.
#[derive(Debug, Clone)]
pub struct StoreFace {
    pub name: String,
    /// The store's address, without a trailing slash: links start with it.
    pub url: String,
}

/// One rendered mail.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for Mail {
    /// Without the body, which may hold a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The mail `event` sends, if it sends one.
pub fn render(store: &StoreFace, event: &Event) -> Option<Mail> {
    let name = store.name.as_str();
    let url = store.url.as_str();
    Some(match event {
        Event::OrderPlaced(order) => {
            let money = |minor| format_money(Money::new(minor, order.currency));
            let mut body = Body::new(&format!("Thank you for your order at {name}."));
            body.para(&format!("Order #{}", order.number));
            let lines: Vec<[String; 3]> = order
                .lines
                .iter()
                .map(|l| {
                    [
                        format!("{} × {}", l.quantity, l.sku),
                        format!("{} each", money(l.unit_price_minor)),
                        money(l.unit_price_minor.saturating_mul(i64::from(l.quantity))),
                    ]
                })
                .collect();
            body.table(&lines);
            let mut totals: Vec<[String; 3]> = vec![[
                "Subtotal".into(),
                String::new(),
                money(order.subtotal_minor),
            ]];
            if order.discount_minor > 0 {
                totals.push([
                    "Discount".into(),
                    order.discount_codes.join(", "),
                    format!("−{}", money(order.discount_minor)),
                ]);
            }
            totals.extend([
                [
                    "Shipping".into(),
                    String::new(),
                    money(order.shipping_minor),
                ],
                ["Tax".into(), String::new(), money(order.tax_minor)],
                ["Total".into(), String::new(), money(order.total_minor)],
            ]);
            if order.gift_card_minor > 0 {
                totals.extend([
                    [
                        "Paid by gift card".into(),
                        String::new(),
                        money(order.gift_card_minor),
                    ],
                    [
                        "Paid by card".into(),
                        String::new(),
                        money(order.total_minor - order.gift_card_minor),
                    ],
                ]);
            }
            body.table(&totals);
            if let Some(path) = &order.confirmation_path {
                // The storefront's page of the order (the same lookup, in
                // HTML), not the API's JSON.
                let page = path.replacen("/api/orders/", "/orders/", 1);
                body.link("Follow your order", &format!("{url}{page}"));
            }
            body.para(&format!("We will let you know when it ships. — {name}"));
            body.finish(
                &order.email,
                format!("Order #{} confirmed — {name}", order.number),
            )
        }
        Event::ShipmentUpdated(shipment) => {
            use mercato_tenants::events::ShipmentChange;
            use mercato_tenants::ShipmentStatus;
            let tracking_only = shipment.change == ShipmentChange::Tracking;
            let (opening, subject, closing) = match shipment.status {
                ShipmentStatus::Shipped | ShipmentStatus::InTransit if tracking_only => (
                    format!("The tracking of your package from {name} has changed."),
                    format!("Tracking updated for order #{} — {name}", shipment.number),
                    format!("Thank you for shopping with us. — {name}"),
                ),
                ShipmentStatus::Shipped => (
                    format!("Good news: part of your order at {name} is on its way."),
                    format!("Order #{} has shipped — {name}", shipment.number),
                    format!("Thank you for shopping with us. — {name}"),
                ),
                ShipmentStatus::Delivered if !tracking_only => (
                    format!("Your package from {name} has been delivered."),
                    format!("Order #{} was delivered — {name}", shipment.number),
                    format!("If something is wrong with it, reply to this mail. — {name}"),
                ),
                _ => return None,
            };
            let mut body = Body::new(&opening);
            body.para(&format!("Order #{}", shipment.number));
            let lines: Vec<[String; 3]> = shipment
                .lines
                .iter()
                .map(|l| {
                    [
                        format!("{} × {}", l.quantity, l.title),
                        l.sku.clone(),
                        String::new(),
                    ]
                })
                .collect();
            body.table(&lines);
            if !shipment.carrier.is_empty() || !shipment.tracking_number.is_empty() {
                body.para(&format!(
                    "Carrier: {}. Tracking number: {}.",
                    if shipment.carrier.is_empty() {
                        "—"
                    } else {
                        &shipment.carrier
                    },
                    if shipment.tracking_number.is_empty() {
                        "—"
                    } else {
                        &shipment.tracking_number
                    }
                ));
            }
            if !shipment.tracking_url.is_empty() {
                body.link("Track your package", &shipment.tracking_url);
            }
            body.para(&closing);
            body.finish(&shipment.email, subject)
        }
        Event::CartAbandoned(cart) => {
            let money = |minor| format_money(Money::new(minor, cart.currency));
            let mut body = Body::new(&format!("You left something in your cart at {name}."));
            let lines: Vec<[String; 3]> = cart
                .lines
                .iter()
                .map(|l| {
                    [
                        format!("{} × {}", l.quantity, l.title),
                        format!("{} each", money(l.unit_price_minor)),
                        money(l.unit_price_minor.saturating_mul(i64::from(l.quantity))),
                    ]
                })
                .collect();
            body.table(&lines);
            match &cart.restore_path {
                Some(path) => body.link("Back to your cart", &format!("{url}{path}")),
                None => body.link("Sign in to find your cart", &format!("{url}/account/login")),
            }
            body.para(&format!(
                "Prices and stock are checked again when you come back. — {name}"
            ));
            body.finish(&cart.email, format!("Your cart at {name} is waiting"))
        }
        Event::WebhookDisabled(off) => {
            let mut body = Body::new(&format!(
                "A webhook subscription of {name} was turned off: its deliveries kept failing."
            ));
            body.para(&format!("Address: {}", off.url));
            body.para(&format!("Why: {}", off.reason));
            body.para(
                "Events are no longer sent to it. Once the address answers again, turn the \
                 subscription back on (PATCH /admin/api/webhooks/{id} with \"enabled\": true) \
                 and redeliver what it missed from its delivery log.",
            );
            body.finish(
                &off.owner_email,
                format!("A webhook of {name} was turned off"),
            )
        }
        Event::PasswordResetRequested(reset) => {
            let mut body = Body::new(&format!(
                "Someone asked to reset the password of your account at {name}."
            ));
            body.link(
                "Choose a new password",
                &format!("{url}/account/reset-password?token={}", reset.token),
            );
            body.code("Or enter this code", &reset.token);
            body.para(&format!(
                "The link works once, until {}. If you did not ask for it, ignore this mail: \
                 your password stays as it is.",
                when(reset.expires_at)
            ));
            body.finish(&reset.email, format!("Reset your password at {name}"))
        }
        Event::CustomerConfirmationRequested(confirm) => {
            let mut body = Body::new(&format!("Welcome to {name}!"));
            body.link(
                "Confirm your email address",
                &format!("{url}/account/confirm?token={}", confirm.token),
            );
            body.code("Or enter this code", &confirm.token);
            body.para(&format!(
                "The link works until {}. If you did not register, ignore this mail.",
                when(confirm.expires_at)
            ));
            body.finish(&confirm.email, format!("Confirm your email at {name}"))
        }
        Event::AccountExistsNotice(notice) => {
            let mut body = Body::new(&format!(
                "Someone tried to register at {name} with this email address, which already \
                 has an account."
            ));
            body.para("If it was you, sign in instead, or reset your password if you forgot it.");
            body.link("Sign in", &format!("{url}/account/login"));
            body.para("If it was not you, ignore this mail: nothing changed.");
            body.finish(
                &notice.email,
                format!("You already have an account at {name}"),
            )
        }
        Event::StaffInvited(invite) => {
            let store_name = invite.store_name.as_str();
            let mut body = Body::new(&format!("You are invited to help run {store_name}."));
            body.link(
                "Accept the invitation",
                &format!("{url}/admin/invitations/accept?token={}", invite.token),
            );
            body.code("Or enter this code", &invite.token);
            body.para(&format!(
                "The invitation is valid until {}.",
                when(invite.expires_at)
            ));
            body.finish(&invite.email, format!("Join {store_name} on Mercato"))
        }
        Event::StaffPasswordResetRequested(reset) => {
            let store_name = reset.store_name.as_str();
            let mut body = Body::new(&format!(
                "Someone asked to reset the password you sign in to {store_name}'s admin with."
            ));
            body.link(
                "Choose a new password",
                &format!("{url}/admin/reset-password?token={}", reset.token),
            );
            body.code("Or enter this code", &reset.token);
            body.para(&format!(
                "The link works once, until {}. If you did not ask for it, ignore this mail: \
                 your password stays as it is.",
                when(reset.expires_at)
            ));
            body.finish(
                &reset.email,
                format!("Reset your password for {store_name} on Mercato"),
            )
        }
        Event::ReturnRequested(r) => {
            let mut body = Body::new(&format!(
                "We received your return request for order #{} at {name}.",
                r.number
            ));
            body.table(&returned_lines(r));
            body.para("We will let you know once it is approved and how to send the items back.");
            body.finish(
                &r.email,
                format!("Return for order #{} opened — {name}", r.number),
            )
        }
        Event::ReturnApproved(r) => {
            let mut body = Body::new(&format!(
                "Your return for order #{} at {name} is approved: please send these items back.",
                r.number
            ));
            body.table(&returned_lines(r));
            if let Some(note) = &r.note {
                body.para(note);
            }
            body.para("Once they arrive, we refund them.");
            body.finish(
                &r.email,
                format!("Return for order #{} approved — {name}", r.number),
            )
        }
        Event::ReturnCompleted(r) => {
            let refunded = r.refund_minor.unwrap_or(0);
            let mut body = Body::new(&format!(
                "Your return for order #{} at {name} arrived.",
                r.number
            ));
            body.table(&returned_lines(r));
            if refunded > 0 {
                body.para(&format!(
                    "We refunded {} to your payment method; it may take a few days to show.",
                    format_money(Money::new(refunded, r.currency))
                ));
            }
            body.finish(
                &r.email,
                format!("Return for order #{} refunded — {name}", r.number),
            )
        }
        Event::LinesCancelled(c) => {
            let mut body = Body::new(&if c.order_cancelled {
                format!("Your order #{} at {name} was cancelled.", c.number)
            } else {
                format!(
                    "We had to cancel some items of your order #{} at {name}; the rest ships as planned.",
                    c.number
                )
            });
            let rows: Vec<[String; 3]> = c
                .lines
                .iter()
                .map(|l| [format!("{} ×", l.quantity), l.title.clone(), l.sku.clone()])
                .collect();
            body.table(&rows);
            if let Some(reason) = &c.reason {
                body.para(reason);
            }
            if c.refund_minor > 0 {
                body.para(&format!(
                    "We are refunding {} to your payment method; it may take a few days to show.",
                    format_money(Money::new(c.refund_minor, c.currency))
                ));
            }
            let subject = if c.order_cancelled {
                format!("Order #{} cancelled — {name}", c.number)
            } else {
                format!("Items cancelled from order #{} — {name}", c.number)
            };
            body.finish(&c.email, subject)
        }
        Event::RefundIssued(r) => {
            use mercato_tenants::events::RefundCause;
            let what = match r.cause {
                RefundCause::Return | RefundCause::LinesCancelled => return None,
                RefundCause::Goodwill => "a refund on",
                RefundCause::OrderCancelled => "the refund of your cancelled",
                RefundCause::OrderRefunded => "a full refund of",
            };
            let mut body = Body::new(&format!(
                "We issued {what} order #{} at {name}: {} back to your payment method. It may take a few days to show.",
                r.number,
                format_money(Money::new(r.amount_minor, r.currency))
            ));
            if let Some(reason) = &r.reason {
                body.para(reason);
            }
            body.finish(
                &r.email,
                format!("Refund issued for order #{} — {name}", r.number),
            )
        }
        _ => return None,
    })
}

/// The mail of a bought gift card, with its code: the event does not
/// carry the code (see `gift_cards`), so [`render`] sends nothing for it and
/// the worker renders it here with the code the card keeps for this mail.
pub fn render_gift_card(
    store: &StoreFace,
    issued: &mercato_tenants::events::GiftCardIssued,
    code: &str,
) -> Mail {
    let name = store.name.as_str();
    let amount = format_money(Money::new(issued.amount_minor, issued.currency));
    let mut body = Body::new(&format!(
        "Here is your {amount} gift card for {name}, bought with order #{}.",
        issued.number
    ));
    body.code("Your gift card code", code);
    body.para(
        "Enter the code at checkout to pay with it, or give it to someone: whoever holds the \
         code can spend the card. Keep it safe: we cannot show it again.",
    );
    if let Some(at) = issued.expires_at {
        body.para(&format!("It can be used until {}.", when(at)));
    }
    body.finish(&issued.email, format!("Your gift card — {name}"))
}

/// A return's lines: units and the order line they belong to.
fn returned_lines(r: &mercato_tenants::events::ReturnChanged) -> Vec<[String; 3]> {
    r.lines
        .iter()
        .map(|l| {
            [
                format!("{} ×", l.quantity),
                format!("line {} of the order", l.line + 1),
                String::new(),
            ]
        })
        .collect()
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A mail's body, written as text and as HTML at once.
struct Body {
    text: String,
    html: String,
}

impl Body {
    fn new(opening: &str) -> Self {
        let mut body = Self {
            text: String::new(),
            html: String::from(
                "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.4\">",
            ),
        };
        body.para(opening);
        body
    }

    fn para(&mut self, text: &str) {
        let _ = write!(self.text, "{text}\n\n");
        let _ = write!(self.html, "<p>{}</p>", escape(text));
    }

    fn link(&mut self, label: &str, href: &str) {
        let _ = write!(self.text, "{label}:\n{href}\n\n");
        let _ = write!(
            self.html,
            "<p><a href=\"{}\">{}</a></p>",
            escape(href),
            escape(label)
        );
    }

    fn code(&mut self, label: &str, code: &str) {
        let _ = write!(self.text, "{label}: {code}\n\n");
        let _ = write!(
            self.html,
            "<p>{}: <code>{}</code></p>",
            escape(label),
            escape(code)
        );
    }

    fn table(&mut self, rows: &[[String; 3]]) {
        self.html.push_str("<table>");
        for [a, b, c] in rows {
            let _ = writeln!(self.text, "  {a:<30} {b:>16} {c:>14}");
            let _ = write!(
                self.html,
                "<tr><td>{}</td><td align=\"right\">{}</td><td align=\"right\">{}</td></tr>",
                escape(a),
                escape(b),
                escape(c)
            );
        }
        self.text.push('\n');
        self.html.push_str("</table>");
    }

    fn finish(mut self, to: &str, subject: String) -> Mail {
        self.html.push_str("</body></html>");
        Mail {
            to: to.to_owned(),
            subject,
            text: self.text,
            html: self.html,
        }
    }
}

pub use mercato_tenants::money::format_money;

#[cfg(test)]
mod tests {
    use super::*;
    use mercato_tenants::events::{
        AccountExistsNotice, OrderLine, OrderPlaced, PasswordResetRequested, StaffInvited,
        StaffPasswordResetRequested,
    };
    use mercato_tenants::Currency;
    use mercato_tenants::{
        CheckoutId, CustomerId, OrderId, ProductId, StaffId, StoreId, VariantId,
    };

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect(code)
    }

    fn face() -> StoreFace {
        StoreFace {
            name: "Café <Noir> & Co".into(),
            url: "http://noir.localhost:8080".into(),
        }
    }

    #[test]
    fn money_is_written_in_the_currencys_units_and_symbol() {
        let m = |minor, code| format_money(Money::new(minor, currency(code)));
        assert_eq!(m(4680, "USD"), "$46.80");
        assert_eq!(m(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(m(-5, "EUR"), "-€0.05");
        assert_eq!(m(150_000, "JPY"), "¥150,000");
        assert_eq!(m(1_234_500, "KWD"), "1,234.500 KWD");
        assert_eq!(m(100, "CHF"), "1.00 CHF");
        assert_eq!(m(0, "GBP"), "£0.00");
        assert_eq!(m(i64::MIN, "USD"), "-$92,233,720,368,547,758.08");
    }

    fn order() -> OrderPlaced {
        OrderPlaced {
            order_id: OrderId::new(),
            number: 1001,
            checkout_id: CheckoutId::new(),
            customer_id: None,
            email: "shopper@example.com".into(),
            currency: Currency::USD,
            subtotal_minor: 3800,
            discount_minor: 0,
            discount_codes: Vec::new(),
            shipping_minor: 500,
            tax_minor: 380,
            total_minor: 4680,
            gift_card_minor: 0,
            lines: vec![OrderLine {
                variant_id: VariantId::new(),
                product_id: ProductId::new(),
                sku: "TEE<M>".into(),
                quantity: 2,
                unit_price_minor: 1900,
                discount_minor: 0,
            }],
            confirmation_path: Some("/api/orders/1001?token=abc123".into()),
        }
    }

    #[test]
    fn the_order_confirmation_has_the_store_the_total_and_the_link() {
        let mail = render(&face(), &Event::OrderPlaced(order())).expect("a mail");
        assert_eq!(mail.to, "shopper@example.com");
        assert_eq!(mail.subject, "Order #1001 confirmed — Café <Noir> & Co");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("$46.80"), "{part}");
            assert!(part.contains("$38.00"));
            assert!(part.contains("http://noir.localhost:8080/orders/1001?token=abc123"));
        }
        assert!(mail.text.contains("Café <Noir> & Co") && mail.text.contains("2 × TEE<M>"));
        // The HTML escapes what the store and the shopper wrote.
        assert!(mail.html.contains("Café &lt;Noir&gt; &amp; Co"));
        assert!(mail.html.contains("2 × TEE&lt;M&gt;"));
        assert!(!mail.html.contains("<Noir>"));
        // A confirmation recorded before the link existed still mails.
        let old = OrderPlaced {
            confirmation_path: None,
            ..order()
        };
        let mail = render(&face(), &Event::OrderPlaced(old)).expect("a mail");
        assert!(!mail.text.contains("/api/orders/"));
    }

    #[test]
    fn token_mails_carry_their_token_and_debug_never_shows_it() {
        let expires_at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let reset = Event::PasswordResetRequested(PasswordResetRequested {
            customer_id: CustomerId::new(),
            email: "a@b.test".into(),
            token: "f00dfeed".into(),
            expires_at,
        });
        let invite = Event::StaffInvited(StaffInvited {
            invitation_id: uuid::Uuid::now_v7(),
            store_id: StoreId::new(),
            store_name: "Noir".into(),
            email: "new@staff.test".into(),
            token: "f00dfeed".into(),
            expires_at,
        });
        for (event, link) in [
            (
                reset,
                "http://noir.localhost:8080/account/reset-password?token=f00dfeed",
            ),
            (
                invite,
                "http://noir.localhost:8080/admin/invitations/accept?token=f00dfeed",
            ),
        ] {
            let mail = render(&face(), &event).expect("a mail");
            assert!(mail.text.contains(link), "{}", mail.text);
            assert!(mail.html.contains(link));
            assert!(mail.text.contains("2023-11-14 22:13 UTC"));
            assert!(!format!("{mail:?}").contains("f00dfeed"));
        }
        let staff_reset = Event::StaffPasswordResetRequested(StaffPasswordResetRequested {
            staff_id: StaffId::new(),
            email: "owner@noir.test".into(),
            store_name: "Noir <b>".into(),
            token: "f00dfeed".into(),
            expires_at,
        });
        let mail = render(&face(), &staff_reset).expect("a mail");
        assert_eq!(mail.to, "owner@noir.test");
        assert_eq!(mail.subject, "Reset your password for Noir <b> on Mercato");
        let link = "http://noir.localhost:8080/admin/reset-password?token=f00dfeed";
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(mail.html.contains(link), "{}", mail.html);
        assert!(mail.text.contains("Or enter this code: f00dfeed"));
        assert!(mail.text.contains("until 2023-11-14 22:13 UTC"));
        assert!(mail.html.contains("Noir &lt;b&gt;") && !mail.html.contains("<b>"));
        assert!(!format!("{mail:?}").contains("f00dfeed"));
        assert!(MAILED.contains(&EventType::StaffPasswordResetRequested));
        let notice = Event::AccountExistsNotice(AccountExistsNotice {
            customer_id: CustomerId::new(),
            email: "a@b.test".into(),
        });
        let mail = render(&face(), &notice).expect("a mail");
        assert_eq!(
            mail.subject,
            "You already have an account at Café <Noir> & Co"
        );
    }

    #[test]
    fn a_returns_mails_go_to_the_orders_email_with_the_refund() {
        use mercato_tenants::events::{ReturnChanged, ReturnedLine};
        use mercato_tenants::ReturnId;
        let r = ReturnChanged {
            return_id: ReturnId::new(),
            order_id: OrderId::new(),
            number: 1001,
            email: "shopper@example.com".into(),
            currency: Currency::USD,
            reason: "too small".into(),
            note: None,
            lines: vec![ReturnedLine {
                line: 0,
                variant_id: VariantId::new(),
                quantity: 2,
                condition: None,
                restock: None,
            }],
            refund_id: None,
            refund_minor: Some(2090),
        };
        let opened = render(&face(), &Event::ReturnRequested(r.clone())).expect("a mail");
        assert_eq!(opened.to, "shopper@example.com");
        assert_eq!(
            opened.subject,
            "Return for order #1001 opened — Café <Noir> & Co"
        );
        let approved = render(&face(), &Event::ReturnApproved(r.clone())).expect("a mail");
        assert!(approved.subject.contains("approved"));
        let refunded = render(&face(), &Event::ReturnCompleted(r.clone())).expect("a mail");
        assert!(refunded.subject.contains("refunded"));
        assert!(refunded.text.contains("$20.90") && refunded.html.contains("$20.90"));
        assert!(render(&face(), &Event::ReturnRejected(r)).is_none());
    }

    #[test]
    fn exactly_the_mailed_events_render() {
        use mercato_tenants::events::ProductDeleted;
        let other = Event::ProductDeleted(ProductDeleted {
            product_id: ProductId::new(),
        });
        assert!(render(&face(), &other).is_none());
        assert!(!MAILED.contains(&EventType::ProductDeleted));
        assert!(render(&face(), &Event::OrderPlaced(order())).is_some());
    }

    #[test]
    fn a_gift_card_mail_carries_the_code_it_is_given_and_the_event_alone_mails_nothing() {
        use mercato_tenants::events::GiftCardIssued;
        let issued = GiftCardIssued {
            gift_card_id: mercato_tenants::GiftCardId::new(),
            order_id: OrderId::new(),
            number: 1001,
            customer_id: None,
            email: "shopper@example.com".into(),
            currency: Currency::USD,
            amount_minor: 2500,
            last4: "NPQR".into(),
            expires_at: None,
        };
        assert!(render(&face(), &Event::GiftCardIssued(issued.clone())).is_none());
        let mail = render_gift_card(&face(), &issued, "ABCD-EFGH-JKLM-NPQR");
        assert_eq!(mail.to, "shopper@example.com");
        assert_eq!(mail.subject, "Your gift card — Café <Noir> & Co");
        assert!(
            mail.text.contains("ABCD-EFGH-JKLM-NPQR") && mail.html.contains("ABCD-EFGH-JKLM-NPQR")
        );
        assert!(mail.text.contains("$25.00"));
        assert!(!format!("{mail:?}").contains("ABCD"));
    }

    fn shipment(status: mercato_tenants::ShipmentStatus) -> Event {
        shipment_change(status, mercato_tenants::events::ShipmentChange::Moved)
    }

    fn shipment_change(
        status: mercato_tenants::ShipmentStatus,
        change: mercato_tenants::events::ShipmentChange,
    ) -> Event {
        use mercato_tenants::events::{ShipmentUpdated, ShipmentUpdatedLine};
        Event::ShipmentUpdated(ShipmentUpdated {
            order_id: mercato_tenants::OrderId::new(),
            number: 1007,
            shipment_id: mercato_tenants::ShipmentId::new(),
            change,
            status,
            carrier: "UPS".into(),
            tracking_number: "1Z<999>".into(),
            tracking_url: "https://ups.example/track?n=1Z&x=<1>".into(),
            email: "ada@example.com".into(),
            lines: vec![ShipmentUpdatedLine {
                sku: "TEE-M".into(),
                title: "Tee <Noir>".into(),
                quantity: 2,
            }],
        })
    }

    #[test]
    fn a_shipment_mails_when_it_ships_and_when_it_arrives_with_its_tracking() {
        use mercato_tenants::ShipmentStatus::*;
        let shipped = render(&face(), &shipment(Shipped)).expect("shipped mails");
        assert_eq!(shipped.to, "ada@example.com");
        assert!(shipped.subject.starts_with("Order #1007 has shipped"));
        assert!(shipped.text.contains("Tracking number: 1Z<999>."));
        assert!(shipped
            .text
            .contains("https://ups.example/track?n=1Z&x=<1>"));
        assert!(shipped.text.contains("2 × Tee <Noir>"));
        // Escaped in HTML, the link included.
        assert!(shipped.html.contains("1Z&lt;999&gt;"));
        assert!(shipped
            .html
            .contains("href=\"https://ups.example/track?n=1Z&amp;x=&lt;1&gt;\""));
        assert!(!shipped.html.contains("<Noir>"));
        let delivered = render(&face(), &shipment(Delivered)).expect("delivered mails");
        assert!(delivered.subject.starts_with("Order #1007 was delivered"));
        for quiet in [Pending, LabelCreated, InTransit, Cancelled] {
            assert!(render(&face(), &shipment(quiet)).is_none(), "{quiet:?}");
        }
        // New tracking on the way is news; before it leaves or once it
        // arrived it is not.
        use mercato_tenants::events::ShipmentChange::Tracking;
        for moving in [Shipped, InTransit] {
            let mail = render(&face(), &shipment_change(moving, Tracking)).expect("tracking mail");
            assert!(mail.subject.starts_with("Tracking updated for order #1007"));
        }
        for quiet in [Pending, LabelCreated, Delivered, Cancelled] {
            assert!(
                render(&face(), &shipment_change(quiet, Tracking)).is_none(),
                "{quiet:?}"
            );
        }
    }
}
