//! A webhook receiver for the tests: axum on a loopback port, recording
//! every request, that can be taken down and brought back on its port.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A webhook receiver on a fixed loopback port, answering 200.
pub struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let mut receiver = Self {
            addr: "127.0.0.1:0".parse().expect("addr"),
            got: Arc::default(),
            stop: None,
            task: None,
        };
        receiver.up().await;
        receiver
    }

    /// Listens (again, on the same port).
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("receiver binds");
        self.addr = listener.local_addr().expect("addr");
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let got = got.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    got.lock().expect("lock").push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    "ok"
                }
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Stops listening: connections are refused.
    pub async fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// The distinct `x-mercato-event-id`s received.
    pub fn event_ids(&self) -> std::collections::BTreeSet<String> {
        self.received()
            .iter()
            .filter_map(|r| r.headers.get("x-mercato-event-id").cloned())
            .collect()
    }
}
