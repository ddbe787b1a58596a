//! The payment state machine: which captures, voids and refunds a payment
//! allows, as plain functions over [`Payment`].
//!
//! ```text
//! authorized ──capture──▶ captured ──refund──▶ partially_refunded ──refund──▶ refunded
//!      │                      └───────────────refund (all)──────────────────────▲
//!      └──void──▶ voided
//! declined, failed, voided, refunded: final
//! ```

use mercato_pod::payments::{Payment, PaymentStatus};

/// Why an operation is refused: `(HTTP status, error code, message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn invalid_state(what: &str, p: &Payment) -> Refusal {
    Refusal {
        status: 409,
        code: "invalid_state",
        message: format!("cannot {what} a payment that is {}", status_name(p.status)),
    }
}

fn too_large(message: String) -> Refusal {
    Refusal {
        status: 400,
        code: "amount_too_large",
        message,
    }
}

pub fn status_name(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Authorized => "authorized",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Failed => "failed",
        PaymentStatus::Captured => "captured",
        PaymentStatus::Voided => "voided",
        PaymentStatus::PartiallyRefunded => "partially_refunded",
        PaymentStatus::Refunded => "refunded",
    }
}

/// Captures `amount` (> 0; all when `None`) of an authorization; the rest
/// of the authorization is released.
pub fn capture(p: &Payment, amount: Option<i64>) -> Result<Payment, Refusal> {
    if p.status != PaymentStatus::Authorized {
        return Err(invalid_state("capture", p));
    }
    let amount = amount.unwrap_or(p.amount);
    if amount > p.amount {
        return Err(too_large(format!(
            "cannot capture {amount}: only {} is authorized",
            p.amount
        )));
    }
    Ok(Payment {
        status: PaymentStatus::Captured,
        captured_amount: amount,
        ..p.clone()
    })
}

/// Releases an authorization.
pub fn void(p: &Payment) -> Result<Payment, Refusal> {
    if p.status != PaymentStatus::Authorized {
        return Err(invalid_state("void", p));
    }
    Ok(Payment {
        status: PaymentStatus::Voided,
        ..p.clone()
    })
}

/// Refunds `amount` (> 0) of what was captured and not yet refunded.
pub fn refund(p: &Payment, amount: i64) -> Result<Payment, Refusal> {
    if !matches!(
        p.status,
        PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
    ) {
        return Err(invalid_state("refund", p));
    }
    let refundable = p.captured_amount - p.refunded_amount;
    if amount > refundable {
        return Err(too_large(format!(
            "cannot refund {amount}: only {refundable} is refundable"
        )));
    }
    let refunded_amount = p.refunded_amount + amount;
    Ok(Payment {
        status: if refunded_amount == p.captured_amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        },
        refunded_amount,
        ..p.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(status: PaymentStatus) -> Payment {
        Payment {
            id: "pay_1".into(),
            status,
            amount: 1000,
            currency: "USD".into(),
            captured_amount: 0,
            refunded_amount: 0,
            decline_code: None,
            reference: "r".into(),
            card_fingerprint: None,
        }
    }

    const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Authorized,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::Captured,
        PaymentStatus::Voided,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    #[test]
    fn only_an_authorization_captures_or_voids() {
        for status in ALL {
            let p = with(status);
            assert_eq!(
                capture(&p, None).is_ok(),
                status == PaymentStatus::Authorized,
                "{status:?}"
            );
            assert_eq!(
                void(&p).is_ok(),
                status == PaymentStatus::Authorized,
                "{status:?}"
            );
            if status != PaymentStatus::Authorized {
                assert_eq!(capture(&p, None).map_err(|r| r.status), Err(409));
                assert_eq!(void(&p).map_err(|r| r.code), Err("invalid_state"));
            }
        }
    }

    #[test]
    fn capture_takes_all_or_part_never_more() {
        let p = with(PaymentStatus::Authorized);
        let all = capture(&p, None).expect("captures");
        assert_eq!(
            (all.status, all.captured_amount),
            (PaymentStatus::Captured, 1000)
        );
        let part = capture(&p, Some(600)).expect("captures");
        assert_eq!(part.captured_amount, 600);
        assert_eq!(part.amount, 1000);
        let refused = capture(&p, Some(1001)).expect_err("too much");
        assert_eq!((refused.status, refused.code), (400, "amount_too_large"));
        assert_eq!(void(&p).expect("voids").status, PaymentStatus::Voided);
    }

    #[test]
    fn refunds_add_up_to_the_capture_and_no_further() {
        let captured = capture(&with(PaymentStatus::Authorized), Some(800)).expect("captured");
        let once = refund(&captured, 300).expect("refunds");
        assert_eq!(
            (once.status, once.refunded_amount),
            (PaymentStatus::PartiallyRefunded, 300)
        );
        let too_much = refund(&once, 501).expect_err("more than is left");
        assert_eq!(too_much.code, "amount_too_large");
        let rest = refund(&once, 500).expect("refunds the rest");
        assert_eq!(
            (rest.status, rest.refunded_amount),
            (PaymentStatus::Refunded, 800)
        );
        assert_eq!(refund(&rest, 1).map_err(|r| r.code), Err("invalid_state"));
        for status in [
            PaymentStatus::Authorized,
            PaymentStatus::Declined,
            PaymentStatus::Failed,
            PaymentStatus::Voided,
        ] {
            assert_eq!(refund(&with(status), 1).map_err(|r| r.status), Err(409));
        }
    }
}
