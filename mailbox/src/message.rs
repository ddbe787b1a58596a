//! A received message taken apart for reading: its headers (unfolded,
//! RFC 2047 words decoded), and its plain-text and HTML parts (MIME
//! multiparts walked, base64 and quoted-printable decoded). Lenient: a
//! message that is not valid MIME still shows its headers and raw text.

use base64::Engine as _;

/// How deep multiparts are walked.
const MAX_DEPTH: usize = 5;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// `(name, value)` in order, values unfolded and decoded.
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Parsed {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse(data: &[u8]) -> Parsed {
    let raw = String::from_utf8_lossy(data);
    let (head, body) = split_head(&raw);
    let headers = headers(head);
    let mut parsed = Parsed {
        headers: headers
            .iter()
            .map(|(n, v)| (n.clone(), decode_words(v)))
            .collect(),
        ..Default::default()
    };
    walk(&headers, body, 0, &mut parsed);
    if parsed.text.is_none() && parsed.html.is_none() {
        parsed.text = Some(body.to_owned());
    }
    parsed
}

/// The header block and the body, split at the first empty line.
fn split_head(raw: &str) -> (&str, &str) {
    raw.split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""))
}

/// Header fields, continuation lines unfolded, values raw.
fn headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parameter of a header value: `boundary` of `multipart/mixed;
/// boundary="x"`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn walk(headers: &[(String, String)], body: &str, depth: usize, out: &mut Parsed) {
    let content_type = find(headers, "content-type").unwrap_or("text/plain");
    let kind = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if kind.starts_with("multipart/") {
        let Some(boundary) = param(content_type, "boundary") else {
            return;
        };
        if depth >= MAX_DEPTH {
            return;
        }
        for part in parts(body, &boundary) {
            let (head, body) = split_head(part);
            walk(&self::headers(head), body, depth + 1, out);
        }
        return;
    }
    let encoding = find(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => body.to_owned(),
            }
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    };
    match kind.as_str() {
        "text/plain" if out.text.is_none() => out.text = Some(decoded),
        "text/html" if out.html.is_none() => out.html = Some(decoded),
        _ => {}
    }
}

/// The bodies between `--boundary` lines, up to `--boundary--`.
fn parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    // Skip the preamble.
    let Some(start) = rest.find(&delimiter) else {
        return out;
    };
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with("--") {
            break;
        }
        let rest_line = rest.find('\n').map_or("", |i| &rest[i + 1..]);
        let Some(end) = rest_line.find(&delimiter) else {
            out.push(rest_line);
            break;
        };
        let part = &rest_line[..end];
        out.push(
            part.strip_suffix("\r\n")
                .or_else(|| part.strip_suffix('\n'))
                .unwrap_or(part),
        );
        rest = &rest_line[end + delimiter.len()..];
    }
    out
}

fn quoted_printable(body: &str) -> String {
    let mut bytes = Vec::with_capacity(body.len());
    let mut lines = body.split("\r\n").flat_map(|l| l.split('\n')).peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'=' && i + 2 < raw.len() {
                if let Some(b) = hex_byte(raw[i + 1], raw[i + 2]) {
                    bytes.push(b);
                    i += 3;
                    continue;
                }
            }
            bytes.push(raw[i]);
            i += 1;
        }
        if !soft && lines.peek().is_some() {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

/// Decodes RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?utf-8?Q?...?=`)
/// in a header value; anything else is left as it is.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, after) = rest.split_at(start);
        let Some(decoded) = encoded_word(after) else {
            out.push_str(before);
            out.push_str("=?");
            rest = &after[2..];
            last_was_word = false;
            continue;
        };
        // Whitespace between two encoded words is not shown.
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&decoded.0);
        rest = &after[decoded.1..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`: its text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "Q" | "q" => quoted_printable(&text.replace('_', " ")).into_bytes(),
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_alternative_gives_both_parts_decoded() {
        let raw = "From: =?UTF-8?B?Q2Fmw6kgTm9pcg==?= <shop@mercato.test>\r\n\
                   Subject: =?UTF-8?Q?Your_order_=E2=84=961001?=\r\n\
                   X-Long: one\r\n two\r\n\
                   MIME-Version: 1.0\r\n\
                   Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
                   \r\n\
                   preamble\r\n\
                   --b1\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   Content-Transfer-Encoding: base64\r\n\
                   \r\n\
                   VG90YWw6\r\nICQ0Ni44MA==\r\n\
                   --b1\r\n\
                   Content-Type: text/html; charset=utf-8\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\
                   \r\n\
                   <p>Caf=C3=A9 =\r\nNoir</p>\r\n\
                   --b1--\r\n";
        let m = parse(raw.as_bytes());
        assert_eq!(m.header("from"), Some("Café Noir <shop@mercato.test>"));
        assert_eq!(m.header("Subject"), Some("Your order №1001"));
        assert_eq!(m.header("x-long"), Some("one two"));
        assert_eq!(m.text.as_deref(), Some("Total: $46.80"));
        assert_eq!(m.html.as_deref(), Some("<p>Café Noir</p>"));
    }

    #[test]
    fn a_plain_message_is_its_body() {
        let m = parse(b"Subject: hi\r\n\r\nhello\r\n");
        assert_eq!(m.header("subject"), Some("hi"));
        assert_eq!(m.text.as_deref(), Some("hello\r\n"));
        assert_eq!(m.html, None);
        let m = parse(b"no headers at all");
        assert!(m.headers.is_empty());
    }

    #[test]
    fn words_that_are_not_encoded_stay() {
        assert_eq!(decode_words("=?x"), "=?x");
        assert_eq!(
            decode_words("a =?UTF-8?B?YQ==?= =?UTF-8?B?Yg==?= c"),
            "a ab c"
        );
        assert_eq!(decode_words("=?koi8-r?B?YQ==?="), "=?koi8-r?B?YQ==?=");
    }
}
