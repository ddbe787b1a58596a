//! Card sessions: the test gateway's "transparent redirect", as real PSPs
//! offer it. The merchant's server opens a session (`POST
//! /v1/card_sessions`, with the API key) naming where the shopper comes
//! back to; the merchant's page shows a card form whose action is the
//! gateway's `POST /pay/{session}`, so the card number goes from the
//! shopper's browser to the gateway and never through the merchant. The
//! gateway checks the card, keeps a token on the session and sends the
//! browser back (`303`) to the return URL with `session=<id>`; the
//! merchant's server reads the session (`GET /v1/card_sessions/{id}`) for
//! the token, or for why the card was refused.
//!
//! A session takes one card; it expires 30 minutes after it was opened.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mercato_pod::payments::wire::{CardSession, ErrorDetail};

/// How long a session takes a card.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// Most sessions kept at once (the oldest go first); a test gateway's
/// memory stays bounded however many checkout pages are shown.
const MAX_SESSIONS: usize = 100_000;
/// Longest return URL.
pub const MAX_RETURN_URL: usize = 2048;

struct Session {
    return_url: String,
    opened: Instant,
    token: Option<(String, String)>,
    card_error: Option<ErrorDetail>,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn open(&self, return_url: String) -> CardSession {
        let id = format!("cs_{}", uuid::Uuid::new_v4().simple());
        let mut all = self.lock();
        if all.len() >= MAX_SESSIONS {
            all.retain(|_, s| s.opened.elapsed() < SESSION_TTL);
        }
        if all.len() >= MAX_SESSIONS {
            if let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone())
            {
                all.remove(&oldest);
            }
        }
        let session = Session {
            return_url,
            opened: Instant::now(),
            token: None,
            card_error: None,
        };
        let view = view(&id, &session);
        all.insert(id, session);
        view
    }

    pub fn get(&self, id: &str) -> Option<CardSession> {
        self.lock().get(id).map(|s| view(id, s))
    }

    /// Where the browser goes back to, with the session named.
    pub fn return_to(&self, id: &str) -> Option<String> {
        let all = self.lock();
        let s = all.get(id)?;
        let sep = if s.return_url.contains('?') { '&' } else { '?' };
        Some(format!("{}{sep}session={id}", s.return_url))
    }

    /// Keeps the token of the card entered, if the session still takes
    /// one. `false`: expired or already complete.
    pub fn complete(&self, id: &str, token: String, last4: String) -> bool {
        let mut all = self.lock();
        match all.get_mut(id) {
            Some(s) if s.token.is_none() && s.opened.elapsed() < SESSION_TTL => {
                s.token = Some((token, last4));
                s.card_error = None;
                true
            }
            _ => false,
        }
    }

    /// Notes why the card entered was refused (the session stays open).
    pub fn refuse(&self, id: &str, code: &str, message: &str) {
        if let Some(s) = self.lock().get_mut(id) {
            if s.token.is_none() {
                s.card_error = Some(ErrorDetail {
                    code: code.to_owned(),
                    message: message.to_owned(),
                });
            }
        }
    }
}

fn view(id: &str, s: &Session) -> CardSession {
    let status = match (&s.token, s.opened.elapsed() < SESSION_TTL) {
        (Some(_), _) => "complete",
        (None, true) => "open",
        (None, false) => "expired",
    };
    CardSession {
        id: id.to_owned(),
        status: status.to_owned(),
        pay_path: format!("/pay/{id}"),
        token: s.token.as_ref().map(|(t, _)| t.clone()),
        last4: s.token.as_ref().map(|(_, l)| l.clone()),
        card_error: s.card_error.clone(),
    }
}

/// A return URL the gateway will send browsers to: absolute `http` or
/// `https`, at most [`MAX_RETURN_URL`] bytes, printable ASCII (no control
/// characters, no spaces), no fragment.
pub fn valid_return_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    url.len() <= MAX_RETURN_URL
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_graphic())
        && !url.contains('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_takes_one_card_and_names_itself_on_the_way_back() {
        let sessions = Sessions::default();
        let s = sessions.open("http://shop.localhost:8080/checkout/complete?d=abc".into());
        assert_eq!(s.status, "open");
        assert_eq!(s.pay_path, format!("/pay/{}", s.id));
        sessions.refuse(&s.id, "invalid_number", "no");
        assert_eq!(
            sessions
                .get(&s.id)
                .expect("there")
                .card_error
                .expect("refused")
                .code,
            "invalid_number"
        );
        assert!(sessions.complete(&s.id, "tok_1".into(), "4242".into()));
        assert!(
            !sessions.complete(&s.id, "tok_2".into(), "0000".into()),
            "one card only"
        );
        let done = sessions.get(&s.id).expect("there");
        assert_eq!(
            (done.status.as_str(), done.token.as_deref()),
            ("complete", Some("tok_1"))
        );
        assert!(done.card_error.is_none());
        assert_eq!(
            sessions.return_to(&s.id).expect("there"),
            format!(
                "http://shop.localhost:8080/checkout/complete?d=abc&session={}",
                s.id
            )
        );
    }

    #[test]
    fn return_urls_are_absolute_web_addresses() {
        assert!(valid_return_url("https://shop.example/checkout/complete"));
        assert!(valid_return_url("http://a.localhost:8080/x?y=1"));
        for bad in [
            "/relative",
            "javascript:alert(1)",
            "https://",
            "https:///x",
            "http://a b",
            "http://a/\n",
            "http://a/#f",
        ] {
            assert!(!valid_return_url(bad), "{bad}");
        }
        assert!(!valid_return_url(&format!(
            "https://a/{}",
            "x".repeat(MAX_RETURN_URL)
        )));
    }
}
