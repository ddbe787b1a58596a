//! The messages kept: in memory, the newest `max` of them (the oldest go
//! first). A restart forgets them, like the test gateway's payments.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::message::{self, Parsed};
use crate::smtp::Received;

/// One message as it arrived, and taken apart.
#[derive(Debug)]
pub struct Message {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    /// The envelope (`MAIL FROM`, `RCPT TO`), not the headers.
    pub from: String,
    pub to: Vec<String>,
    pub size: usize,
    pub parsed: Parsed,
}

/// A message in a list.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: Option<String>,
    pub size: usize,
}

/// A message whole: the summary, its headers and its parts.
#[derive(Debug, Serialize)]
pub struct Full {
    #[serde(flatten)]
    pub summary: Summary,
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Message {
    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id,
            received_at: self.received_at,
            from: self.from.clone(),
            to: self.to.clone(),
            subject: self.parsed.header("subject").unwrap_or("").to_owned(),
            message_id: self.parsed.header("message-id").map(str::to_owned),
            size: self.size,
        }
    }

    pub fn full(&self) -> Full {
        Full {
            summary: self.summary(),
            headers: self.parsed.headers.clone(),
            text: self.parsed.text.clone(),
            html: self.parsed.html.clone(),
        }
    }

    /// Whether `address` is one of the envelope's recipients (any case).
    pub fn is_for(&self, address: &str) -> bool {
        self.to.iter().any(|t| t.eq_ignore_ascii_case(address))
    }
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<VecDeque<Arc<Message>>>>,
    max: usize,
}

impl Store {
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::default(),
            max: max.max(1),
        }
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Message>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `received`; its id.
    pub fn add(&self, received: Received) -> Uuid {
        let message = Message {
            id: Uuid::now_v7(),
            received_at: Utc::now(),
            size: received.data.len(),
            parsed: message::parse(&received.data),
            from: received.from,
            to: received.to,
        };
        let id = message.id;
        let mut messages = self.messages();
        while messages.len() >= self.max {
            messages.pop_front();
        }
        messages.push_back(Arc::new(message));
        id
    }

    /// Every message (to `to` when given), in arrival order.
    pub fn list(&self, to: Option<&str>) -> Vec<Arc<Message>> {
        self.messages()
            .iter()
            .filter(|m| to.is_none_or(|to| m.is_for(to)))
            .cloned()
            .collect()
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Message>> {
        self.messages().iter().find(|m| m.id == id).cloned()
    }

    pub fn clear(&self) {
        self.messages().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(to: &str) -> Received {
        Received {
            from: "a@b.test".into(),
            to: vec![to.into()],
            data: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        }
    }

    #[test]
    fn the_oldest_go_first_and_lists_filter_by_recipient() {
        let store = Store::new(2);
        let first = store.add(received("x@y.test"));
        store.add(received("X@Y.test"));
        store.add(received("z@y.test"));
        assert!(store.get(first).is_none(), "dropped past the bound");
        assert_eq!(store.list(None).len(), 2);
        assert_eq!(store.list(Some("x@y.test")).len(), 1);
        assert_eq!(store.list(None)[0].summary().subject, "s");
        store.clear();
        assert!(store.list(None).is_empty());
    }
}
