//! Web pages as a browser without script uses them, over HTTP through the
//! router: cookies kept, forms posted URL-encoded with their `Origin`,
//! redirects left to the test.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};

use super::Stack;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A browser without script, on one host: its cookies, kept as the server
/// sets them; its forms posted from its own pages (`Origin`).
pub struct WebClient<'a> {
    pub stack: &'a Stack,
    pub host: String,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl<'a> WebClient<'a> {
    pub fn new(stack: &'a Stack, host: &str) -> Self {
        Self {
            stack,
            host: host.to_owned(),
            cookies: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw `Set-Cookie` of `name` in `r`, if any.
    pub fn keep(&mut self, r: &reqwest::Response) -> Vec<String> {
        let mut raw = Vec::new();
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().expect("cookie").to_owned();
            let pair = v.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.retain(|(k, _)| k != name);
            if !v.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
            raw.push(v);
        }
        raw
    }

    pub async fn read(&mut self, r: reqwest::Response) -> Page {
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().expect("text").to_owned())
            .unwrap_or_default();
        Page {
            status,
            location,
            body: r.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = client()
            .get(format!("{}{path}", self.stack.router.url()))
            .header("host", &self.host)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("get");
        self.read(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = format!("http://{}", self.host);
        self.post_from(&origin, path, form).await
    }

    /// A form posted by a page of another site, `origin`.
    pub async fn post_from(&mut self, origin: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = client()
            .post(format!("{}{path}", self.stack.router.url()))
            .header("host", &self.host)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, origin)
            .header(COOKIE, self.cookie_header())
            .body(body)
            .send()
            .await
            .expect("post");
        self.read(r).await
    }
}

/// The value of the hidden `csrf` field of a page's forms.
pub fn csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf field")
        .to_owned()
}
