//! The SMTP conversation (RFC 5321) as a pure state machine: a
//! [`Session`] is fed one line at a time and says what to answer. The
//! network loop in `server.rs` reads the lines (at most [`MAX_LINE`] bytes,
//! each ending in CRLF) and writes the answers; nothing here does I/O.
//!
//! Spoken: `EHLO`/`HELO`, `MAIL FROM` (with `SIZE=`), `RCPT TO`, `DATA`
//! (dot-unstuffed), `RSET`, `NOOP`, `VRFY`, `HELP`, `QUIT`. Refused with
//! their codes: commands out of order (`503`), unknown ones (`500`), bad
//! arguments (`501`), control characters (`501` in a command, `554` for a
//! message), lines over [`MAX_LINE`] (`500`), too many recipients (`452`),
//! a message over the size limit (`552`). A line must end in CRLF: a bare
//! CR or LF inside one is a control character, so no line ending can be
//! smuggled past the end of a message.

use std::fmt;

/// The longest line accepted, CRLF included: RFC 5321's limit for a line
/// of text (4.5.3.1.6); commands are shorter still (512).
pub const MAX_LINE: usize = 1000;
/// The longest command line, CRLF included (RFC 5321 4.5.3.1.4).
pub const MAX_COMMAND: usize = 512;

/// What a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message, in bytes of its (unstuffed) text.
    pub max_message_bytes: usize,
    /// Recipients of one message.
    pub max_recipients: usize,
}

/// One line as the reader delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line without its CRLF.
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE`]; its bytes were dropped.
    TooLong,
}

/// An SMTP reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }
}

impl fmt::Display for Reply {
    /// The reply on the wire: `250-first\r\n250 last\r\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            write!(f, "{}{sep}{line}\r\n", self.code)?;
        }
        if self.lines.is_empty() {
            write!(f, "{}\r\n", self.code)?;
        }
        Ok(())
    }
}

/// A message as the client handed it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The reverse path; empty for the null sender (`MAIL FROM:<>`).
    pub from: String,
    pub to: Vec<String>,
    /// The message text, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
}

/// What the server does after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(Reply),
    /// Answer, then close the connection.
    Close(Reply),
    /// A whole message arrived: keep it, then answer `250`.
    Deliver(Received),
    /// A line of a message's text: nothing to answer yet.
    Nothing,
}

/// Where the conversation is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Before `HELO`/`EHLO`.
    Connected,
    /// Greeted, no transaction.
    Ready,
    /// `MAIL FROM` given; recipients being added.
    Transaction,
    /// Reading the message text.
    Data,
}

/// One client's conversation.
#[derive(Debug)]
pub struct Session {
    hostname: String,
    limits: Limits,
    phase: Phase,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    /// Why the message being read will be refused, once its end arrives.
    refusal: Option<Reply>,
}

impl Session {
    pub fn new(hostname: &str, limits: Limits) -> Self {
        Self {
            hostname: hostname.to_owned(),
            limits,
            phase: Phase::Connected,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            refusal: None,
        }
    }

    /// The first words of the server.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, format!("{} Mercato mailbox ESMTP", self.hostname))
    }

    /// Whether the session is reading a message's text (where lines may be
    /// up to [`MAX_LINE`] long; commands only [`MAX_COMMAND`]).
    pub fn in_data(&self) -> bool {
        self.phase == Phase::Data
    }

    pub fn on_line(&mut self, line: Line<'_>) -> Action {
        if self.phase == Phase::Data {
            return self.on_data(line);
        }
        let Line::Text(bytes) = line else {
            return Action::Reply(Reply::new(500, "5.5.2 line too long"));
        };
        if bytes.len() + 2 > MAX_COMMAND {
            return Action::Reply(Reply::new(500, "5.5.2 line too long"));
        }
        if bytes.iter().any(|b| b.is_ascii_control()) {
            return Action::Reply(Reply::new(
                501,
                "5.5.2 control characters are not allowed in commands",
            ));
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Action::Reply(Reply::new(501, "5.5.2 commands are ASCII"));
        };
        let (verb, arg) = match text.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (text, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.hello(arg, true),
            "HELO" => self.hello(arg, false),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.start_data(arg),
            "RSET" => {
                self.reset();
                Action::Reply(Reply::new(250, "2.0.0 ok"))
            }
            "NOOP" => Action::Reply(Reply::new(250, "2.0.0 ok")),
            "VRFY" => Action::Reply(Reply::new(
                252,
                "2.1.5 cannot verify, but will accept the message",
            )),
            "HELP" => Action::Reply(Reply::new(
                214,
                "2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT",
            )),
            "QUIT" => Action::Close(Reply::new(221, "2.0.0 bye")),
            _ => Action::Reply(Reply::new(500, "5.5.1 command unrecognized")),
        }
    }

    /// Forgets the transaction, keeping the greeting.
    fn reset(&mut self) {
        if self.phase != Phase::Connected {
            self.phase = Phase::Ready;
        }
        self.from.clear();
        self.to.clear();
        self.data.clear();
        self.refusal = None;
    }

    fn hello(&mut self, arg: &str, extended: bool) -> Action {
        if arg.is_empty() || arg.contains(' ') {
            return Action::Reply(Reply::new(501, "5.5.4 say who you are: EHLO <domain>"));
        }
        self.phase = Phase::Ready;
        self.reset();
        let first = format!("{} greets {arg}", self.hostname);
        if !extended {
            return Action::Reply(Reply::new(250, first));
        }
        Action::Reply(Reply {
            code: 250,
            lines: vec![
                first,
                format!("SIZE {}", self.limits.max_message_bytes),
                "8BITMIME".into(),
                "SMTPUTF8".into(),
                "ENHANCEDSTATUSCODES".into(),
            ],
        })
    }

    fn mail(&mut self, arg: &str) -> Action {
        match self.phase {
            Phase::Connected => {
                return Action::Reply(Reply::new(503, "5.5.1 send EHLO or HELO first"))
            }
            Phase::Transaction => {
                return Action::Reply(Reply::new(503, "5.5.1 a transaction is already open"))
            }
            _ => {}
        }
        let Some((path, params)) = parse_path(arg, "FROM:") else {
            return Action::Reply(Reply::new(501, "5.5.4 syntax: MAIL FROM:<address>"));
        };
        if !path.is_empty() && !is_address(path) {
            return Action::Reply(Reply::new(501, "5.1.7 bad sender address"));
        }
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<usize>() {
                    Ok(size) if size > self.limits.max_message_bytes => {
                        return Action::Reply(Reply::new(
                            552,
                            "5.3.4 message size exceeds the fixed maximum",
                        ))
                    }
                    Ok(_) => {}
                    Err(_) => return Action::Reply(Reply::new(501, "5.5.4 bad SIZE")),
                },
                "BODY" | "SMTPUTF8" => {}
                _ => {
                    return Action::Reply(Reply::new(555, "5.5.4 parameter not recognized"));
                }
            }
        }
        self.from = path.to_owned();
        self.phase = Phase::Transaction;
        Action::Reply(Reply::new(250, "2.1.0 ok"))
    }

    fn rcpt(&mut self, arg: &str) -> Action {
        if self.phase != Phase::Transaction {
            return Action::Reply(Reply::new(503, "5.5.1 send MAIL FROM first"));
        }
        let Some((path, params)) = parse_path(arg, "TO:") else {
            return Action::Reply(Reply::new(501, "5.5.4 syntax: RCPT TO:<address>"));
        };
        if !params.is_empty() {
            return Action::Reply(Reply::new(555, "5.5.4 parameter not recognized"));
        }
        if !is_address(path) {
            return Action::Reply(Reply::new(501, "5.1.3 bad recipient address"));
        }
        if self.to.len() >= self.limits.max_recipients {
            return Action::Reply(Reply::new(452, "4.5.3 too many recipients"));
        }
        self.to.push(path.to_owned());
        Action::Reply(Reply::new(250, "2.1.5 ok"))
    }

    fn start_data(&mut self, arg: &str) -> Action {
        if !arg.is_empty() {
            return Action::Reply(Reply::new(501, "5.5.4 DATA takes no argument"));
        }
        if self.phase != Phase::Transaction {
            return Action::Reply(Reply::new(503, "5.5.1 send MAIL FROM first"));
        }
        if self.to.is_empty() {
            return Action::Reply(Reply::new(554, "5.5.1 no valid recipients"));
        }
        self.phase = Phase::Data;
        Action::Reply(Reply::new(354, "end data with <CR><LF>.<CR><LF>"))
    }

    fn on_data(&mut self, line: Line<'_>) -> Action {
        let bytes = match line {
            Line::TooLong => {
                self.refuse(Reply::new(500, "5.5.2 line too long"));
                return Action::Nothing;
            }
            Line::Text(b".") => return self.end_data(),
            Line::Text(bytes) => bytes,
        };
        // Dot-unstuffing (RFC 5321 4.5.2).
        let bytes = bytes.strip_prefix(b".").unwrap_or(bytes);
        if bytes.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
            self.refuse(Reply::new(
                554,
                "5.6.0 control characters (or a bare CR or LF) in the message",
            ));
            return Action::Nothing;
        }
        if self.refusal.is_none() {
            if self.data.len() + bytes.len() + 2 > self.limits.max_message_bytes {
                self.refuse(Reply::new(
                    552,
                    "5.3.4 message size exceeds the fixed maximum",
                ));
                return Action::Nothing;
            }
            self.data.extend_from_slice(bytes);
            self.data.extend_from_slice(b"\r\n");
        }
        Action::Nothing
    }

    /// Remembers the first reason to refuse the message being read; its
    /// text is dropped from then on.
    fn refuse(&mut self, reply: Reply) {
        if self.refusal.is_none() {
            self.refusal = Some(reply);
            self.data = Vec::new();
        }
    }

    fn end_data(&mut self) -> Action {
        let refusal = self.refusal.take();
        let received = Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        self.reset();
        match refusal {
            Some(reply) => Action::Reply(reply),
            None => Action::Deliver(received),
        }
    }
}

/// `FROM:<a@b> SIZE=10` → (`a@b`, `SIZE=10`): the path between angle
/// brackets after the keyword (case-insensitive, a space after the colon
/// tolerated), and the parameters after it.
fn parse_path<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    Some((path, params.trim()))
}

/// A mailbox `local@domain`: one `@`, both sides non-empty, no spaces or
/// angle brackets.
fn is_address(path: &str) -> bool {
    let Some((local, domain)) = path.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && path.len() <= 254
        && !path.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_message_bytes: 200,
        max_recipients: 2,
    };

    fn session() -> Session {
        Session::new("mx.test", LIMITS)
    }

    /// Feeds `line` and gives the reply's code (0: nothing to answer, 1: a
    /// message delivered).
    fn code(s: &mut Session, line: &str) -> u16 {
        match s.on_line(Line::Text(line.as_bytes())) {
            Action::Reply(r) | Action::Close(r) => r.code,
            Action::Deliver(_) => 1,
            Action::Nothing => 0,
        }
    }

    fn in_transaction() -> Session {
        let mut s = session();
        assert_eq!(code(&mut s, "EHLO client.test"), 250);
        assert_eq!(code(&mut s, "MAIL FROM:<shop@mercato.test>"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@b.test>"), 250);
        s
    }

    #[test]
    fn a_whole_conversation_delivers_the_unstuffed_text() {
        let mut s = in_transaction();
        assert_eq!(code(&mut s, "rcpt to: <c@d.test>"), 250);
        assert_eq!(code(&mut s, "DATA"), 354);
        assert!(s.in_data());
        for line in ["Subject: hi", "", "..leading dot", "."] {
            if line == "." {
                let Action::Deliver(m) = s.on_line(Line::Text(b".")) else {
                    panic!("the dot ends the message");
                };
                assert_eq!(m.from, "shop@mercato.test");
                assert_eq!(m.to, ["a@b.test", "c@d.test"]);
                assert_eq!(m.data, b"Subject: hi\r\n\r\n.leading dot\r\n");
            } else {
                assert_eq!(code(&mut s, line), 0);
            }
        }
        // After the dot, lines are commands again.
        assert!(!s.in_data());
        assert_eq!(code(&mut s, ""), 500);
        assert_eq!(code(&mut s, "NOOP"), 250);
        assert_eq!(code(&mut s, "QUIT"), 221);
    }

    #[test]
    fn commands_out_of_order_or_unknown_are_refused() {
        let mut s = session();
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), 503);
        assert_eq!(code(&mut s, "HELO"), 501);
        assert_eq!(code(&mut s, "HELO client.test"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@b.test>"), 503);
        assert_eq!(code(&mut s, "DATA"), 503);
        assert_eq!(code(&mut s, "MAIL FROM:<>"), 250, "the null sender");
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), 503, "nested");
        assert_eq!(code(&mut s, "DATA"), 554, "no recipient yet");
        assert_eq!(code(&mut s, "RCPT TO:<nobody>"), 501);
        assert_eq!(code(&mut s, "RCPT TO:a@b.test"), 501);
        assert_eq!(code(&mut s, "RCPT TO:<a@b.test> NOTIFY=NEVER"), 555);
        assert_eq!(code(&mut s, "BDAT 10"), 500);
        assert_eq!(code(&mut s, ""), 500);
        assert_eq!(code(&mut s, "RSET"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@b.test>"), 503, "reset ended it");
        assert_eq!(code(&mut s, "VRFY x"), 252);
    }

    #[test]
    fn limits_are_answered_with_their_codes() {
        let mut s = in_transaction();
        assert_eq!(code(&mut s, "RCPT TO:<c@d.test>"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<e@f.test>"), 452);
        assert_eq!(code(&mut s, "DATA"), 354);
        assert_eq!(code(&mut s, &"x".repeat(150)), 0);
        assert_eq!(code(&mut s, &"y".repeat(150)), 0);
        assert_eq!(code(&mut s, "."), 552, "over 200 bytes");
        // The session goes on: a smaller message is taken.
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=100"), 250);
        assert_eq!(code(&mut s, "RSET"), 250);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=201"), 552);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=big"), 501);
    }

    #[test]
    fn control_characters_and_long_lines_are_refused() {
        let mut s = session();
        assert_eq!(code(&mut s, "EHLO a\u{7}b"), 501);
        assert_eq!(code(&mut s, &format!("EHLO {}", "a".repeat(600))), 500);
        assert_eq!(
            s.on_line(Line::TooLong),
            Action::Reply(Reply::new(500, "5.5.2 line too long"))
        );
        let mut s = in_transaction();
        assert_eq!(code(&mut s, "DATA"), 354);
        // A bare LF inside a line, then a dot behind it: not an end.
        assert_eq!(code(&mut s, "one\n.\ntwo"), 0);
        assert_eq!(code(&mut s, "tab\tis fine"), 0);
        assert_eq!(code(&mut s, "."), 554);
        assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), 250);
        assert_eq!(code(&mut s, "RCPT TO:<a@b.test>"), 250);
        assert_eq!(code(&mut s, "DATA"), 354);
        assert_eq!(s.on_line(Line::TooLong), Action::Nothing);
        assert_eq!(code(&mut s, "."), 500);
    }

    #[test]
    fn replies_have_their_wire_form() {
        assert_eq!(Reply::new(250, "ok").to_string(), "250 ok\r\n");
        let mut s = session();
        let Action::Reply(ehlo) = s.on_line(Line::Text(b"EHLO c.test")) else {
            panic!("a reply");
        };
        let wire = ehlo.to_string();
        assert!(wire.starts_with("250-mx.test greets c.test\r\n250-SIZE 200\r\n"));
        assert!(wire.ends_with("250 ENHANCEDSTATUSCODES\r\n"));
    }
}
