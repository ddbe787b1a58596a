//! Webhook signatures: `Mercato-Signature: t=<unix seconds>,v1=<hex>` where
//! `<hex>` is HMAC-SHA256 of `"<t>.<raw body>"` under the webhook secret.
//!
//! The timestamp is inside the signed text, so a captured delivery cannot be
//! replayed later than the tolerance; several `v1=` entries are allowed (a
//! sender rotating secrets signs with both).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The full header value signing `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks `header` against `body`: one `v1` must match (compared in
/// constant time) and `t` must be within `tolerance_secs` of `now`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" => {
                let t: i64 = value.parse().map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            // Other schemes are ignored, as a newer sender may add them.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matches = signatures
        .iter()
        .any(|sig| mac(secret, timestamp, body).verify_slice(sig).is_ok());
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if now.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment.authorized"}"#;

    #[test]
    fn a_signature_verifies_within_the_tolerance() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_000, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_300, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, 1_699_999_700, 300), Ok(()));
    }

    #[test]
    fn it_matches_a_known_vector() {
        // HMAC-SHA256("key", "1.body"), computed independently with openssl:
        // printf '1.body' | openssl dgst -sha256 -hmac key
        let header = sign(b"key", 1, b"body");
        assert_eq!(
            header,
            "t=1,v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5"
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_expired() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, 1_700_000_301, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, 1_699_999_699, 300),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn another_body_secret_or_timestamp_is_a_mismatch() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        let now = 1_700_000_000;
        assert_eq!(
            verify(SECRET, &header, b"{}", now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(
            verify(SECRET, &moved, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
        let zeros = format!("t={now},v1={}", "0".repeat(64));
        assert_eq!(
            verify(SECRET, &zeros, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let good = sign(SECRET, 1_700_000_000, BODY);
        let v1 = good.split_once(",v1=").expect("v1").1;
        let header = format!("t=1700000000,v1={},v0=legacy,v1={v1}", "ab".repeat(32));
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "t=1,t=1,v1=00",
            "garbage",
        ] {
            assert_eq!(
                verify(SECRET, header, BODY, 1, 300),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
