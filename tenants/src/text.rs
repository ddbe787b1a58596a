//! Control characters at the edge. Postgres `text` cannot hold NUL (a NUL
//! in a product title used to answer `500`), and no name, handle, address
//! or search term has a use for the other control characters either. Every
//! JSON body, query string and path the processes accept is checked here,
//! once, before a handler sees it (see [`crate::http::ApiJson`],
//! [`crate::http::ApiQuery`], [`crate::http::ApiPath`]).
//!
//! Refused: C0 controls (U+0000–U+001F) and DEL (U+007F) and C1 controls
//! (U+0080–U+009F). Inside JSON strings and form fields, tab, line feed
//! and carriage return stay allowed: a product description has lines.

/// The first control character refused in a text value (a JSON string's
/// or a form field's, decoded): tab, line feed and carriage return pass.
pub fn control_in_text(text: &str) -> Option<u32> {
    text.chars().map(u32::from).find(|&c| refused_in_json(c))
}

/// Longest store name, in characters.
pub const STORE_NAME_MAX: usize = 200;

/// A store's name as kept: trimmed, 1 to [`STORE_NAME_MAX`] characters, on
/// one line (no control character at all, tab and line feed included: it
/// is a page title and a mail's sender name). The error says why, for a
/// `400`.
pub fn store_name(raw: &str) -> Result<&str, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > STORE_NAME_MAX {
        return Err(format!("a store name is 1 to {STORE_NAME_MAX} characters"));
    }
    if let Some(c) = name.chars().map(u32::from).find(|&c| is_control(c)) {
        return Err(format!(
            "a store name is one line: it contains {}",
            describe(c)
        ));
    }
    Ok(name)
}

/// Whether `c` is refused in a JSON string value.
fn refused_in_json(c: u32) -> bool {
    !matches!(c, 0x09 | 0x0a | 0x0d) && is_control(c)
}

fn is_control(c: u32) -> bool {
    c < 0x20 || (0x7f..=0x9f).contains(&c)
}

/// The first refused control character inside a string of the JSON text
/// `json`, as a code point. Text that is not valid JSON is left to the
/// JSON parser.
pub fn control_in_json(json: &[u8]) -> Option<u32> {
    let mut i = 0;
    let mut in_string = false;
    while i < json.len() {
        let b = json[i];
        if !in_string {
            in_string = b == b'"';
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' => {
                let (code, len) = match json.get(i + 1) {
                    Some(b'u') => {
                        let hex = std::str::from_utf8(json.get(i + 2..i + 6)?).ok()?;
                        (Some(u32::from_str_radix(hex, 16).ok()?), 6)
                    }
                    Some(b'b') => (Some(0x08), 2),
                    Some(b'f') => (Some(0x0c), 2),
                    _ => (None, 2),
                };
                if let Some(c) = code.filter(|&c| refused_in_json(c)) {
                    return Some(c);
                }
                i += len;
                continue;
            }
            _ => {
                if let Some(c) = raw_control(json, i) {
                    return Some(c);
                }
            }
        }
        i += 1;
    }
    None
}

/// A control character written as raw bytes at `at`: DEL, or a C1 control
/// in UTF-8 (`C2 80`–`C2 9F`). Raw C0 controls are not valid in JSON
/// strings and never reach here.
fn raw_control(bytes: &[u8], at: usize) -> Option<u32> {
    match (bytes[at], bytes.get(at + 1)) {
        (0x7f, _) => Some(0x7f),
        (0xc2, Some(&next)) if (0x80..=0x9f).contains(&next) => Some(u32::from(next)),
        _ => None,
    }
}

/// The first control character in the percent-decoded form of `raw` (a
/// query string or a path), as a code point. In a URL every control
/// character is refused, tab and line feed included.
pub fn control_in_url(raw: &str) -> Option<u32> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    (0..decoded.len()).find_map(|i| match decoded[i] {
        b if b < 0x20 => Some(u32::from(b)),
        _ => raw_control(&decoded, i),
    })
}

/// How a refused character is named in an error message: `U+0000`.
pub fn describe(c: u32) -> String {
    format!("U+{c:04X}")
}

/// `text` for HTML element content or a quoted attribute value: the five
/// characters HTML gives meaning to, as entities. Every page and mail the
/// processes render escapes with this.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` with `LIKE`'s wildcards (`%`, `_`) and its escape character
/// escaped, so a pattern built around it matches the text itself.
pub fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_name_is_one_trimmed_line_of_1_to_200_characters() {
        assert_eq!(store_name("  Lamp shop  "), Ok("Lamp shop"));
        assert!(store_name("   ").is_err());
        assert!(store_name(&"é".repeat(200)).is_ok());
        assert!(store_name(&"é".repeat(201)).is_err());
        assert!(store_name("Lamp\tshop").is_err());
        assert!(store_name("Lamp\nshop").is_err());
        assert!(store_name("Lamp\u{0}shop").is_err());
    }

    #[test]
    fn json_strings_refuse_escaped_and_raw_controls() {
        assert_eq!(control_in_json(br#"{"title":"a\u0000b"}"#), Some(0));
        assert_eq!(control_in_json(br#"{"title":"\u001F"}"#), Some(0x1f));
        assert_eq!(control_in_json(br#"{"title":"bell\u0007"}"#), Some(7));
        assert_eq!(control_in_json(br#"{"t":"\b"}"#), Some(8));
        assert_eq!(control_in_json(br#"{"t":"\f"}"#), Some(0x0c));
        assert_eq!(control_in_json(br#"{"t":"\u007f"}"#), Some(0x7f));
        assert_eq!(
            control_in_json("{\"t\":\"a\u{7f}\"}".as_bytes()),
            Some(0x7f)
        );
        assert_eq!(control_in_json("{\"t\":\"\u{85}\"}".as_bytes()), Some(0x85));
        assert_eq!(control_in_json(br#"{"t\u0000":1}"#), Some(0), "keys too");
    }

    #[test]
    fn json_keeps_lines_tabs_and_ordinary_text() {
        for ok in [
            br#"{"description":"line one\nline two\r\n\ttabbed"}"#.as_slice(),
            br#"{"t":"\u000a\u0009\u000D"}"#,
            br#"{"t":"quote \" and backslash \\ and slash \/"}"#,
            br#"{"t":"\\u0000 is six characters, not NUL"}"#,
            "{\"t\":\"caf\u{e9} \u{1f600} \u{a0}\"}".as_bytes(),
            br#"{"n":1,"list":[true,null,"x"]}"#,
        ] {
            assert_eq!(control_in_json(ok), None, "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn urls_refuse_every_control_after_decoding() {
        assert_eq!(control_in_url("q=%00"), Some(0));
        assert_eq!(control_in_url("q=a%0Ab"), Some(0x0a));
        assert_eq!(control_in_url("q=%09"), Some(9));
        assert_eq!(control_in_url("q=%7F"), Some(0x7f));
        assert_eq!(control_in_url("q=%C2%85"), Some(0x85));
        assert_eq!(control_in_url("/api/products/by-handle/x%00y"), Some(0));
        assert_eq!(control_in_url("q=caf%C3%A9&limit=5&x=%25&y=%"), None);
        assert_eq!(control_in_url("q=red+shoes"), None);
    }
}
