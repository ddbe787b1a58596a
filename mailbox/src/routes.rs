//! The mailbox over HTTP: `GET /messages[?to=]`, `GET /messages/{id}`,
//! `DELETE /messages` (JSON, for tests and scripts), and `GET /` (a page
//! to read them in a browser; `/?id=<id>` shows one).

use mercato_tenants::text::escape_html as escape;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mercato_tenants::{ApiError, ErrorCode};
use serde::Deserialize;
use uuid::Uuid;

use crate::store::{Message, Store, Summary};

pub fn router(store: Store) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/messages", get(list).delete(clear))
        .route("/messages/{id}", get(one))
        .with_state(store)
}

#[derive(Deserialize)]
struct ListQuery {
    /// Only messages to this address (an envelope recipient, any case).
    to: Option<String>,
}

#[derive(serde::Serialize)]
struct List {
    items: Vec<Summary>,
}

async fn list(State(store): State<Store>, Query(q): Query<ListQuery>) -> Json<List> {
    let items = store
        .list(q.to.as_deref())
        .iter()
        .map(|m| m.summary())
        .collect();
    Json(List { items })
}

async fn one(State(store): State<Store>, Path(id): Path<String>) -> Response {
    match id.parse::<Uuid>().ok().and_then(|id| store.get(id)) {
        Some(m) => Json(m.full()).into_response(),
        None => ApiError::new(ErrorCode::NotFound, "no such message").into_response(),
    }
}

async fn clear(State(store): State<Store>) -> StatusCode {
    store.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PageQuery {
    id: Option<String>,
}

/// `GET /`: the list, newest first, and the message `?id=` below it.
async fn page(State(store): State<Store>, Query(q): Query<PageQuery>) -> Response {
    let selected =
        q.id.as_deref()
            .and_then(|id| id.parse::<Uuid>().ok())
            .and_then(|id| store.get(id));
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Mercato mailbox</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}\
         pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}\
         iframe{width:100%;height:30em;border:1px solid #ccc}</style></head><body>\
         <h1>Mercato mailbox</h1>",
    );
    let messages = store.list(None);
    let _ = write!(
        html,
        "<p>{} message(s). JSON: <a href=\"/messages\">/messages</a></p>\
         <table><tr><th>received</th><th>to</th><th>subject</th></tr>",
        messages.len()
    );
    for m in messages.iter().rev() {
        let s = m.summary();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td><a href=\"/?id={}\">{}</a></td></tr>",
            s.received_at.format("%Y-%m-%d %H:%M:%S"),
            escape(&s.to.join(", ")),
            s.id,
            escape(if s.subject.is_empty() {
                "(no subject)"
            } else {
                &s.subject
            }),
        );
    }
    html.push_str("</table>");
    if let Some(m) = selected {
        show(&mut html, &m);
    }
    html.push_str("</body></html>");
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn show(html: &mut String, m: &Message) {
    let _ = write!(html, "<h2>{}</h2><table>", escape(&m.summary().subject));
    for (name, value) in &m.parsed.headers {
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    html.push_str("</table>");
    if let Some(body) = &m.parsed.html {
        // Shown sandboxed: no script of a message runs here.
        let _ = write!(
            html,
            "<h3>HTML</h3><iframe sandbox srcdoc=\"{}\"></iframe>",
            escape(body)
        );
    }
    if let Some(text) = &m.parsed.text {
        let _ = write!(html, "<h3>Text</h3><pre>{}</pre>", escape(text));
    }
}
