//! Lower-case hexadecimal: how the pod spells digests, token secrets and
//! opaque cursors.

use std::fmt::Write as _;

/// `bytes` as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decodes hex of either case (opaque cursors: only our own encoding is
/// expected, anything else is simply refused downstream).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decodes lower-case hex only, so a value has exactly one spelling.
pub fn decode_lower(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_one_spelling() {
        assert_eq!(encode(&[0, 255, 16]), "00ff10");
        assert_eq!(decode_lower("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_lower("00FF10"), None);
        assert_eq!(decode("00FF10"), Some(vec![0, 255, 16]));
        assert_eq!(decode("+0"), None);
        assert_eq!(decode_lower("0"), None);
        assert_eq!(decode_lower("zz"), None);
        assert_eq!(decode_lower(""), Some(vec![]));
    }
}
