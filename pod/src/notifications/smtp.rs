//! A minimal SMTP client (RFC 5321) for a relay on a trusted network, and
//! the MIME message it carries (RFC 5322, 2045, 2047).
//!
//! A send is two steps so that the worker can record, durably, the moment
//! past which a mail may have been taken: [`Relay::stage`] connects and
//! sends everything but the message's final dot, and answers whether the
//! relay refused it (then nothing was sent: retrying is safe);
//! [`Staged::finish`] writes the dot and reads the verdict, which may be
//! unknown (the connection died after the dot: the relay may have taken
//! it). [`Staged::abandon`] hangs up before the dot, which the relay
//! treats as no message at all.
//!
//! No TLS and no login: the pod speaks to a relay beside it (a local MTA,
//! the provider's relay over a private network, or `mercato mailbox`), as
//! it speaks plain Kafka to its brokers.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use super::model::Mail;

/// Why a mail was not taken; in every case nothing was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Try again later: the relay is unreachable, timed out, or answered
    /// `4xx`.
    #[error("transient: {0}")]
    Transient(String),
    /// Trying again would not help: the relay answered `5xx`.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What became of a staged mail once its end was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `250`: the relay took it.
    Taken,
    Refused(Refused),
    /// The connection failed after the end was written: the relay may or
    /// may not have taken it.
    Unknown(String),
}

/// The relay and how to greet it.
#[derive(Clone)]
pub struct Relay {
    host: String,
    port: u16,
    /// The name given in `EHLO`.
    helo: String,
    timeout: Duration,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smtp://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("mail.smtp_url `{0}` is not smtp://host[:port]")]
pub struct BadUrl(String);

impl Relay {
    /// From `smtp://host[:port]` (port 25 when left out).
    pub fn from_url(url: &str, helo: &str, timeout: Duration) -> Result<Self, BadUrl> {
        let bad = || BadUrl(url.chars().take(100).collect());
        let rest = url.strip_prefix("smtp://").ok_or_else(bad)?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || port.parse::<u16>().is_ok() => {
                (host, port.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (authority, 25),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            helo: helo.to_owned(),
            timeout,
        })
    }

    /// Connects and hands over `message` for `to` from `from`, all but its
    /// final dot.
    pub async fn stage(&self, from: &str, to: &str, message: &[u8]) -> Result<Staged, Refused> {
        let stream = self
            .timed(TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|e| Refused::Transient(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream: BufReader::new(stream),
            timeout: self.timeout,
        };
        conn.expect(220).await?;
        conn.command(&format!("EHLO {}", self.helo), 250).await?;
        conn.command(&format!("MAIL FROM:<{from}>"), 250).await?;
        conn.command(&format!("RCPT TO:<{to}>"), 250).await?;
        conn.command("DATA", 354).await?;
        conn.write(&dot_stuff(message)).await?;
        Ok(Staged { conn })
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> std::io::Result<T> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))?
    }
}

/// A mail handed over but for its final dot.
pub struct Staged {
    conn: Conn,
}

impl Staged {
    /// Writes the end of the message and reads the relay's verdict.
    pub async fn finish(mut self) -> Verdict {
        if let Err(e) = self.conn.write(b".\r\n").await {
            // Part of the dot may have gone out.
            return Verdict::Unknown(format!("{e}"));
        }
        let verdict = match self.conn.reply().await {
            Ok((250, _)) => Verdict::Taken,
            Ok((code, text)) => Verdict::Refused(refusal(code, &text)),
            Err(e) => Verdict::Unknown(e),
        };
        let _ = self.conn.write(b"QUIT\r\n").await;
        verdict
    }

    /// Hangs up before the end: the relay drops the message.
    pub async fn abandon(self) {
        drop(self.conn);
    }
}

struct Conn {
    stream: BufReader<TcpStream>,
    timeout: Duration,
}

impl Conn {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        tokio::time::timeout(self.timeout, self.stream.get_mut().write_all(bytes))
            .await
            .map_err(|_| Refused::Transient("write timed out".into()))?
            .map_err(|e| Refused::Transient(format!("write: {e}")))
    }

    /// The next reply: its code and its text (lines joined).
    async fn reply(&mut self) -> Result<(u16, String), String> {
        let mut text = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            let read = tokio::time::timeout(self.timeout, self.stream.read_line(&mut line))
                .await
                .map_err(|_| "reply timed out".to_owned())?
                .map_err(|e| format!("read: {e}"))?;
            if read == 0 {
                return Err("the relay closed the connection".into());
            }
            let line = line.trim_end();
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("not an SMTP reply: {}", clip(line)))?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.get(4..).unwrap_or(""));
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
        Err("reply too long".into())
    }

    async fn expect(&mut self, want: u16) -> Result<(), Refused> {
        match self.reply().await {
            Ok((code, _)) if code == want => Ok(()),
            Ok((code, text)) => Err(refusal(code, &text)),
            Err(e) => Err(Refused::Transient(e)),
        }
    }

    async fn command(&mut self, line: &str, want: u16) -> Result<(), Refused> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.expect(want).await
    }
}

fn refusal(code: u16, text: &str) -> Refused {
    let said = format!("{code} {}", clip(text));
    if (500..600).contains(&code) {
        Refused::Permanent(said)
    } else {
        Refused::Transient(said)
    }
}

/// At most 200 characters of what a relay said, for a log or a row.
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The message with every line that starts with a dot doubled (RFC 5321
/// 4.5.2), ending in CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Who a mail is from, and how it is addressed.
pub struct Envelope<'a> {
    /// The pod's from address.
    pub from_address: &'a str,
    /// The name shown with it (the store's sender name).
    pub sender_name: &'a str,
    pub reply_to: Option<&'a str>,
    /// The event's id: the message id, so a mail is recognisable as the
    /// one of its event.
    pub event_id: uuid::Uuid,
    pub date: chrono::DateTime<chrono::Utc>,
}

/// The whole message: headers, then the text and HTML as alternatives,
/// each base64 (any line length, any character).
pub fn compose(envelope: &Envelope<'_>, mail: &Mail) -> Vec<u8> {
    let domain = envelope
        .from_address
        .rsplit_once('@')
        .map_or("mercato.localhost", |(_, d)| d);
    let boundary = format!("mercato-{}", envelope.event_id.simple());
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header(
        "From",
        &format!(
            "{} <{}>",
            phrase(envelope.sender_name),
            clean(envelope.from_address)
        ),
    );
    if let Some(reply_to) = envelope.reply_to {
        header("Reply-To", &clean(reply_to));
    }
    header("To", &clean(&mail.to));
    header("Subject", &encode_word(&mail.subject));
    header("Date", &envelope.date.to_rfc2822());
    header(
        "Message-ID",
        &format!("<{}@{}>", envelope.event_id, clean(domain)),
    );
    header("MIME-Version", "1.0");
    header(
        "Content-Type",
        &format!("multipart/alternative; boundary=\"{boundary}\""),
    );
    out.push_str("\r\n");
    for (kind, body) in [("plain", &mail.text), ("html", &mail.html)] {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/{kind}; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        let encoded = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        for chunk in encoded.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// A header value with control characters (CR, LF: header injection)
/// replaced by spaces.
fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A display name: as it is when it is plain ASCII words, quoted when it
/// holds specials, RFC 2047-encoded when it holds anything else.
fn phrase(name: &str) -> String {
    let name = clean(name);
    if !name.is_ascii() {
        return encode_word(&name);
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c))
    {
        return name;
    }
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `text` as RFC 2047 encoded words (`=?UTF-8?B?...?=`, each under 76
/// characters), or as it is when it is printable ASCII.
fn encode_word(text: &str) -> String {
    let text = clean(text);
    if text.is_ascii() {
        return text;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_host_and_a_port() {
        let t = Duration::from_secs(1);
        let r = Relay::from_url("smtp://127.0.0.1:2525", "pod", t).expect("valid");
        assert_eq!(format!("{r:?}"), "smtp://127.0.0.1:2525");
        let r = Relay::from_url("smtp://mail.internal", "pod", t).expect("valid");
        assert_eq!(format!("{r:?}"), "smtp://mail.internal:25");
        for bad in [
            "",
            "http://x:25",
            "smtp://",
            "smtp://x:port",
            "smtp://u@x:25",
            "smtp://x/y",
        ] {
            assert!(Relay::from_url(bad, "pod", t).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_starting_with_a_dot_are_doubled() {
        assert_eq!(dot_stuff(b".a\r\nb.\r\n.\r\n"), b"..a\r\nb.\r\n..\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n");
    }

    #[test]
    fn headers_are_encoded_and_cannot_be_injected() {
        let mail = Mail {
            to: "a@b.test\r\nBcc: evil@x.test".into(),
            subject: "Order #1 — Café".into(),
            text: ".starts with a dot".into(),
            html: "<p>hi</p>".into(),
        };
        let envelope = Envelope {
            from_address: "no-reply@shop.test",
            sender_name: "Café \"Noir\"",
            reply_to: Some("owner@shop.test"),
            event_id: uuid::Uuid::nil(),
            date: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
        };
        let message = String::from_utf8(compose(&envelope, &mail)).expect("utf-8");
        assert!(message.contains("To: a@b.test  Bcc: evil@x.test\r\n"));
        assert!(!message.contains("\r\nBcc:"));
        assert!(message.contains("From: =?UTF-8?B?"));
        assert!(message.contains("Subject: =?UTF-8?B?"));
        assert!(message.contains("Reply-To: owner@shop.test\r\n"));
        assert!(message.contains("Message-ID: <00000000-0000-0000-0000-000000000000@shop.test>"));
        assert!(message.lines().all(|l| l.len() <= 998));
        assert_eq!(phrase("Demo Store"), "Demo Store");
        assert_eq!(phrase("A \"B\", C"), "\"A \\\"B\\\", C\"");
        let long = encode_word(&"é".repeat(60));
        assert!(long.split("\r\n ").all(|w| w.len() <= 75), "{long}");
    }
}
