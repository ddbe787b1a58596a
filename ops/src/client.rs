//! HTTP to the control plane's operator API.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An error the API answered with: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            code: "not_found".into(),
            message: message.into(),
        }
    }

    /// Reads an error body; a body that is not the API's error shape (a
    /// proxy's page, an empty body) becomes `http_<status>` with its text.
    pub fn from_body(status: u16, body: &str) -> Self {
        let parsed: Option<(String, String)> =
            serde_json::from_str::<Value>(body).ok().and_then(|v| {
                let e = v.get("error")?;
                Some((
                    e.get("code")?.as_str()?.to_owned(),
                    e.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                ))
            });
        match parsed {
            Some((code, message)) => Self {
                status,
                code,
                message,
            },
            None => Self {
                status,
                code: format!("http_{status}"),
                message: body.trim().chars().take(200).collect(),
            },
        }
    }
}

/// Whether an error may go away on its own (the control plane restarting,
/// a timeout), so a command following a move keeps polling.
pub fn is_transient(e: &anyhow::Error) -> bool {
    if let Some(f) = e.downcast_ref::<ApiFailure>() {
        return f.status >= 500;
    }
    e.downcast_ref::<reqwest::Error>()
        .is_some_and(|r| r.is_connect() || r.is_timeout() || r.is_request())
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Sends a request; the status and JSON body of a 2xx answer, else an
    /// [`ApiFailure`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the control plane at {}", self.base))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading the answer to {method} {path}"))?;
        if !status.is_success() {
            return Err(ApiFailure::from_body(status.as_u16(), &text).into());
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {path} answered with invalid JSON"))?
        };
        Ok((status, value))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        Ok(self.send(Method::GET, path, query, None).await?.1)
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        self.send(Method::POST, path, &[], Some(body)).await
    }
}

/// Reads a JSON answer as one of the API's types.
pub fn decode<T: DeserializeOwned>(what: &str, value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value)
        .with_context(|| format!("the control plane's {what} is not what this CLI understands"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_code_and_message() {
        let f = ApiFailure::from_body(
            409,
            r#"{"error":{"code":"already_on_pod","message":"the store is on pod-1","request_id":"r1"}}"#,
        );
        assert_eq!(f.code, "already_on_pod");
        assert_eq!(f.to_string(), "already_on_pod: the store is on pod-1");
        let f = ApiFailure::from_body(502, "Bad Gateway\n");
        assert_eq!(f.to_string(), "http_502: Bad Gateway");
        assert!(is_transient(&anyhow::Error::from(f)));
        assert!(!is_transient(&anyhow::Error::from(ApiFailure::not_found(
            "x"
        ))));
    }
}
