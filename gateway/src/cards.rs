//! Test cards: what a card number does, and the checks a tokenization makes.
//! Pure functions; the server calls them.

use mercato_pod::payments::wire::TokenRequest;

/// What the gateway does with an authorization on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Authorized at once.
    Authorize,
    /// Declined by the issuer with this code (HTTP 402, status `declined`).
    Decline(&'static str),
    /// Not processed, with this code (HTTP 402, status `failed`).
    Fail(&'static str),
    /// Authorized after the gateway's `--slow-ms`.
    Slow,
    /// Authorized (and its webhook sent), but the connection is dropped
    /// before any answer is written.
    LoseResponse,
}

pub const SUCCESS: &str = "4242424242424242";
pub const DECLINED: &str = "4000000000000002";
pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
pub const PROCESSING_ERROR: &str = "4000000000000119";
pub const SLOW: &str = "4000000000000077";
pub const RESPONSE_LOST: &str = "4000000000000036";

/// The behaviour of a (valid) card number; numbers that are not test cards
/// are authorized.
pub fn behaviour(number: &str) -> Behaviour {
    match number {
        DECLINED => Behaviour::Decline("card_declined"),
        INSUFFICIENT_FUNDS => Behaviour::Decline("insufficient_funds"),
        PROCESSING_ERROR => Behaviour::Fail("processing_error"),
        SLOW => Behaviour::Slow,
        RESPONSE_LOST => Behaviour::LoseResponse,
        _ => Behaviour::Authorize,
    }
}

/// 12 to 19 digits passing the Luhn check.
pub fn valid_number(number: &str) -> bool {
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Test mode's magic tokens: `tok_<card number>` stands for that card.
pub fn magic_token(token: &str) -> Option<&str> {
    token.strip_prefix("tok_").filter(|n| valid_number(n))
}

/// The card's fingerprint, as a PSP gives one: `fp_` and 32 hex digits of
/// HMAC-SHA256 of the card number under the merchant's API key, so every
/// token of one card has the same fingerprint within one account and none
/// reveals the number.
pub fn fingerprint(account_key: &[u8], number: &str) -> String {
    use hmac::Mac as _;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(account_key)
        .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
    mac.update(b"card-fingerprint\0");
    mac.update(number.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("fp_{hex}")
}

/// Why a card cannot be tokenized: `(error code, message)`.
pub type CardRefusal = (&'static str, &'static str);

/// Checks a card for tokenization at `(year, month)` today; gives the card
/// number without spaces.
pub fn check_card(req: &TokenRequest, year: i32, month: u32) -> Result<String, CardRefusal> {
    let number: String = req.number.chars().filter(|c| *c != ' ').collect();
    if !valid_number(&number) {
        return Err((
            "invalid_card_number",
            "the card number is not a valid card number",
        ));
    }
    let exp_year = if (0..100).contains(&req.exp_year) {
        2000 + req.exp_year
    } else {
        req.exp_year
    };
    if !(1..=12).contains(&req.exp_month) || (exp_year, req.exp_month) < (year, month) {
        return Err((
            "invalid_expiry",
            "the card has expired or its expiry is invalid",
        ));
    }
    if !(3..=4).contains(&req.cvc.len()) || !req.cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            "invalid_cvc",
            "the card's security code must be 3 or 4 digits",
        ));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_per_card_and_per_account() {
        let a = fingerprint(b"sk_1", "4242424242424242");
        assert_eq!(a, fingerprint(b"sk_1", "4242424242424242"));
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("fp_"));
        assert_ne!(a, fingerprint(b"sk_1", "4000000000000002"));
        assert_ne!(a, fingerprint(b"sk_2", "4242424242424242"));
    }

    fn card(number: &str, exp_month: u32, exp_year: i32, cvc: &str) -> TokenRequest {
        TokenRequest {
            number: number.into(),
            exp_month,
            exp_year,
            cvc: cvc.into(),
        }
    }

    #[test]
    fn every_test_card_passes_luhn() {
        for n in [
            SUCCESS,
            DECLINED,
            INSUFFICIENT_FUNDS,
            PROCESSING_ERROR,
            SLOW,
            RESPONSE_LOST,
        ] {
            assert!(valid_number(n), "{n}");
        }
        assert!(!valid_number("4242424242424241"));
        assert!(!valid_number("42424242424"));
        assert!(!valid_number("4242x24242424242"));
        assert!(!valid_number(""));
    }

    #[test]
    fn test_cards_behave_as_documented() {
        assert_eq!(behaviour(SUCCESS), Behaviour::Authorize);
        assert_eq!(behaviour(DECLINED), Behaviour::Decline("card_declined"));
        assert_eq!(
            behaviour(INSUFFICIENT_FUNDS),
            Behaviour::Decline("insufficient_funds")
        );
        assert_eq!(
            behaviour(PROCESSING_ERROR),
            Behaviour::Fail("processing_error")
        );
        assert_eq!(behaviour(SLOW), Behaviour::Slow);
        assert_eq!(behaviour(RESPONSE_LOST), Behaviour::LoseResponse);
        assert_eq!(behaviour("5555555555554444"), Behaviour::Authorize);
    }

    #[test]
    fn magic_tokens_name_valid_numbers_only() {
        assert_eq!(magic_token("tok_4242424242424242"), Some(SUCCESS));
        assert_eq!(magic_token("tok_4242424242424241"), None);
        assert_eq!(magic_token("4242424242424242"), None);
        assert_eq!(magic_token("tok_abc"), None);
    }

    #[test]
    fn tokenization_checks_number_expiry_and_cvc() {
        assert_eq!(
            check_card(&card("4242 4242 4242 4242", 12, 2030, "123"), 2026, 5),
            Ok(SUCCESS.to_owned())
        );
        assert_eq!(
            check_card(&card(SUCCESS, 5, 2026, "1234"), 2026, 5),
            Ok(SUCCESS.to_owned())
        );
        assert_eq!(
            check_card(&card(SUCCESS, 12, 30, "123"), 2026, 5),
            Ok(SUCCESS.to_owned())
        );
        assert_eq!(
            check_card(&card("4242424242424241", 12, 2030, "123"), 2026, 5).map_err(|e| e.0),
            Err("invalid_card_number")
        );
        for (m, y) in [(4, 2026), (13, 2030), (0, 2030), (12, 2025)] {
            assert_eq!(
                check_card(&card(SUCCESS, m, y, "123"), 2026, 5).map_err(|e| e.0),
                Err("invalid_expiry"),
                "{m}/{y}"
            );
        }
        for cvc in ["12", "12345", "12a"] {
            assert_eq!(
                check_card(&card(SUCCESS, 12, 2030, cvc), 2026, 5).map_err(|e| e.0),
                Err("invalid_cvc")
            );
        }
    }
}
