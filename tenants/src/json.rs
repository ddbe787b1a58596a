//! JSON numbers as JSON Schema reads them. To JSON Schema, and so to the
//! OpenAPI documents and every client generated from them, `64.0` and
//! `1e2` are integers: a number is an integer when its value has no
//! fraction, however it is written. Serde reads the text: an integer field
//! refuses `64.0`. [`crate::http::ApiJson`] asks [`integral_numbers`] for
//! the body with such numbers written as integers when the body as sent
//! does not deserialize, so the handlers take what the documents allow.

/// `json` with every number that has a fraction or an exponent but an
/// integral value within `i64::MIN..=u64::MAX` written as that integer
/// (`64.0` → `64`, `1.5e1` → `15`, `-0.0` → `0`); `None` when there is no
/// such number. The value is read from the text exactly, never through a
/// float: `9007199254740993.0` stays that integer and `1.0000000000000000001`
/// is not one. Strings, other numbers and anything that is not valid JSON
/// are copied as they are, for the JSON parser to judge.
pub fn integral_numbers(json: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => i = string_end(json, i),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len()
                    && matches!(json[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                if let Some(integer) = as_integer(&json[start..i]) {
                    let out = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                    out.extend_from_slice(&json[copied..start]);
                    out.extend_from_slice(integer.as_bytes());
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    let mut out = out?;
    out.extend_from_slice(&json[copied..]);
    Some(out)
}

/// The index just past the string that opens at `start` (or the end).
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    json.len()
}

/// The JSON number `token` as an integer, when it is written with a
/// fraction or an exponent and its value is an integer of at most 20 digits
/// within `i64::MIN..=u64::MAX`.
fn as_integer(token: &[u8]) -> Option<String> {
    let token = std::str::from_utf8(token).ok()?;
    let (negative, unsigned) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    // JSON's grammar: `0` or a digit run not starting with `0`; a fraction
    // and an exponent have at least one digit.
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !digits(whole)
        || (whole.len() > 1 && whole.starts_with('0'))
        || !fraction.is_none_or(digits)
        || !exponent_ok
        || (fraction.is_none() && exponent.is_none())
    {
        return None;
    }
    let fraction = fraction.unwrap_or("");
    // value = significand × 10^scale, significand without leading zeros
    // nor trailing ones.
    let significand = format!("{whole}{fraction}");
    let significand = significand.trim_start_matches('0');
    let trimmed = significand.trim_end_matches('0');
    let exponent: i64 = match exponent {
        // Beyond any integer this can give: a long exponent is no i64.
        Some(e) => e.strip_prefix('+').unwrap_or(e).parse().ok()?,
        None => 0,
    };
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let zeros = i64::try_from(significand.len() - trimmed.len()).ok()?;
    let scale = exponent.checked_sub(fraction_len)?.checked_add(zeros)?;
    if trimmed.is_empty() {
        return Some("0".to_owned());
    }
    let scale = usize::try_from(scale).ok()?;
    if trimmed.len() + scale > 20 {
        return None;
    }
    let magnitude: i128 = format!("{trimmed}{}", "0".repeat(scale)).parse().ok()?;
    let value = if negative { -magnitude } else { magnitude };
    (i128::from(i64::MIN)..=i128::from(u64::MAX))
        .contains(&value)
        .then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(json: &str) -> Option<String> {
        integral_numbers(json.as_bytes()).map(|v| String::from_utf8(v).expect("utf-8"))
    }

    #[test]
    fn integral_numbers_become_integers() {
        assert_eq!(
            rewrite(r#"{"limit":64.0}"#).as_deref(),
            Some(r#"{"limit":64}"#)
        );
        assert_eq!(rewrite("1e2").as_deref(), Some("100"));
        assert_eq!(rewrite("1E+2").as_deref(), Some("100"));
        assert_eq!(rewrite("1.5e1").as_deref(), Some("15"));
        assert_eq!(rewrite("1500e-2").as_deref(), Some("15"));
        assert_eq!(rewrite("-3.000").as_deref(), Some("-3"));
        assert_eq!(rewrite("-0.0").as_deref(), Some("0"));
        assert_eq!(rewrite("0e7").as_deref(), Some("0"));
        assert_eq!(
            rewrite(r#"[1, 2.0, {"a": [3e0]}, "4.0"]"#).as_deref(),
            Some(r#"[1, 2, {"a": [3]}, "4.0"]"#)
        );
    }

    #[test]
    fn exact_at_the_edges_of_the_integers() {
        assert_eq!(
            rewrite("9007199254740993.0").as_deref(),
            Some("9007199254740993"),
            "past 2^53, where a float would round"
        );
        assert_eq!(
            rewrite("18446744073709551615.0").as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            rewrite("-9223372036854775808.0").as_deref(),
            Some("-9223372036854775808")
        );
        assert_eq!(rewrite("18446744073709551616.0"), None, "u64::MAX + 1");
        assert_eq!(rewrite("-9223372036854775809.0"), None, "i64::MIN - 1");
    }

    #[test]
    fn everything_else_stays() {
        for json in [
            r#"{"limit":64}"#,
            "64.5",
            "1e300",
            "1e-2",
            "1.0000000000000000001",
            "1e99999999999999999999",
            r#"{"sku":"64.0","note":"say \"1e2\""}"#,
            "01.0",
            "1.",
            ".5",
            "1e",
            "--1.0",
            r#"{"a":"unterminated 1.0"#,
        ] {
            assert_eq!(rewrite(json), None, "{json}");
        }
    }
}
