//! The write load of `mercato bench move`: writes through the router while
//! the store moves, what was acknowledged, and what of it the target has.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection as _;
use uuid::Uuid;

use super::report::ms;
use super::{BenchStore, LOAD_ACTOR};
use crate::loadgen;

/// The write load as the clients saw it.
pub(super) struct LoadFigures {
    pub(super) sent: u64,
    pub(super) acknowledged: u64,
    pub(super) seconds: f64,
    /// Non-2xx answers and transport failures, by write and status.
    pub(super) errors: BTreeMap<String, usize>,
    /// Writes sent while the move ran, and their latencies.
    pub(super) during: usize,
    pub(super) during_p50_ms: f64,
    pub(super) during_p99_ms: f64,
    pub(super) during_max_ms: f64,
    /// All writes.
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

/// Acknowledged writes of one kind, and how many the target has.
pub(super) struct Lost {
    pub(super) what: &'static str,
    pub(super) acknowledged: i64,
    pub(super) on_target: i64,
}

impl Lost {
    pub(super) fn missing(&self) -> i64 {
        (self.acknowledged - self.on_target).max(0)
    }
}

/// What the writers saw.
#[derive(Default)]
pub(super) struct Ledger {
    products: Vec<Uuid>,
    carts: Vec<Uuid>,
    /// Cart and variant of each acknowledged line.
    lines: Vec<(Uuid, Uuid)>,
    adjustments: i64,
    acknowledged: u64,
    errors: BTreeMap<String, usize>,
    /// When each write was sent, and how long its answer took (answered
    /// or not).
    pub(super) samples: Vec<(Instant, Duration)>,
}

/// Sends the store's writes through the router.
pub(super) struct Writer {
    pub(super) http: reqwest::Client,
    pub(super) router: String,
    pub(super) host: String,
    pub(super) staff: String,
    /// Active variants in stock: stock adjustments and cart lines.
    pub(super) variants: Vec<Uuid>,
    pub(super) ledger: Mutex<Ledger>,
    /// Acknowledged carts waiting for their line, with their tokens.
    pub(super) carts: Mutex<VecDeque<(Uuid, String)>>,
    /// Error bodies printed so far.
    pub(super) reported: Mutex<usize>,
}

impl Writer {
    fn at(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.router))
            .header("host", &self.host)
    }

    fn note(&self, f: impl FnOnce(&mut Ledger)) {
        f(&mut self.ledger.lock().expect("ledger lock"));
    }

    /// The answer's body if its status is `want`; otherwise the failure
    /// is counted under `what` and its status.
    async fn send(&self, what: &str, r: reqwest::RequestBuilder, want: u16) -> Option<Value> {
        let failure = match r.send().await {
            Ok(r) if r.status().as_u16() == want => {
                return Some(r.json().await.unwrap_or(Value::Null))
            }
            Ok(r) => {
                let label = format!("{what} {}", r.status().as_u16());
                let body = r.text().await.unwrap_or_default();
                (label, body)
            }
            Err(e) => (format!("{what}: transport"), e.to_string()),
        };
        let first = {
            let mut n = self.reported.lock().expect("report lock");
            *n += 1;
            *n <= 10
        };
        if first {
            eprintln!(
                "write failed: {} {}",
                failure.0,
                failure.1.chars().take(300).collect::<String>()
            );
        }
        self.note(|l| *l.errors.entry(failure.0).or_default() += 1);
        None
    }

    /// Write `i`: in turn a product creation (staff), a stock adjustment
    /// (staff), a new cart (shopper) and a line in an earlier cart
    /// (shopper; an adjustment when no cart is waiting).
    async fn write(self: Arc<Self>, i: u64) {
        let sent = Instant::now();
        let variant = self.variants[(i / 4) as usize % self.variants.len()];
        let acked = match i % 4 {
            0 => self.create_product(i).await,
            2 => self.create_cart().await,
            3 => {
                let waiting = self.carts.lock().expect("carts lock").pop_front();
                match waiting {
                    Some((cart, token)) => self.add_line(cart, &token, variant).await,
                    None => self.adjust(variant).await,
                }
            }
            _ => self.adjust(variant).await,
        };
        let took = sent.elapsed();
        self.note(|l| {
            l.samples.push((sent, took));
            l.acknowledged += u64::from(acked);
        });
    }

    async fn create_product(&self, i: u64) -> bool {
        let body = json!({"title": format!("Load {i}"), "status": "active",
                          "variants": [{"sku": format!("LOAD-{i}"), "price_minor": 500}]});
        let r = self
            .at(reqwest::Method::POST, "/admin/api/products")
            .bearer_auth(&self.staff)
            .json(&body);
        let Some(product) = self.send("product", r, 201).await else {
            return false;
        };
        match product["id"].as_str().and_then(|s| s.parse().ok()) {
            Some(id) => {
                self.note(|l| l.products.push(id));
                true
            }
            None => false,
        }
    }

    async fn adjust(&self, variant: Uuid) -> bool {
        let r = self
            .at(
                reqwest::Method::POST,
                &format!("/admin/api/variants/{variant}/stock/adjustments"),
            )
            .bearer_auth(&self.staff)
            .json(&json!({"delta": 1, "reason": "received"}));
        let acked = self.send("stock", r, 200).await.is_some();
        if acked {
            self.note(|l| l.adjustments += 1);
        }
        acked
    }

    async fn create_cart(&self) -> bool {
        let r = self.at(reqwest::Method::POST, "/api/cart");
        let Some(body) = self.send("cart", r, 201).await else {
            return false;
        };
        let id = body["cart"]["id"].as_str().and_then(|s| s.parse().ok());
        let token = body["token"].as_str().map(str::to_owned);
        match (id, token) {
            (Some(id), Some(token)) => {
                self.note(|l| l.carts.push(id));
                self.carts
                    .lock()
                    .expect("carts lock")
                    .push_back((id, token));
                true
            }
            _ => false,
        }
    }

    async fn add_line(&self, cart: Uuid, token: &str, variant: Uuid) -> bool {
        let r = self
            .at(reqwest::Method::POST, "/api/cart/lines")
            .header("x-cart-token", token)
            .json(&json!({"variant_id": variant, "quantity": 1}));
        let acked = self.send("cart line", r, 200).await.is_some();
        if acked {
            self.note(|l| l.lines.push((cart, variant)));
        }
        acked
    }
}

/// Sends `rate` writes a second (open loop: a slow answer does not delay
/// the next write) until `stop`; waits for the answers. Returns how many
/// were sent.
pub(super) async fn drive(writer: Arc<Writer>, rate: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut writes = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        writes.spawn(writer.clone().write(sent));
        sent += 1;
        while writes.try_join_next().is_some() {}
    }
    while writes.join_next().await.is_some() {}
    sent
}

pub(super) fn load_figures(
    ledger: &Ledger,
    sent: u64,
    seconds: f64,
    window: Option<(Instant, Instant)>,
) -> LoadFigures {
    let mut all: Vec<Duration> = ledger.samples.iter().map(|(_, d)| *d).collect();
    all.sort_unstable();
    let mut during: Vec<Duration> = ledger
        .samples
        .iter()
        .filter(|(at, _)| window.is_some_and(|(from, to)| *at >= from && *at <= to))
        .map(|(_, d)| *d)
        .collect();
    during.sort_unstable();
    LoadFigures {
        sent,
        acknowledged: ledger.acknowledged,
        seconds,
        errors: ledger.errors.clone(),
        during: during.len(),
        during_p50_ms: ms(loadgen::quantile(&during, 0.5)),
        during_p99_ms: ms(loadgen::quantile(&during, 0.99)),
        during_max_ms: ms(during.last().copied().unwrap_or_default()),
        p50_ms: ms(loadgen::quantile(&all, 0.5)),
        p99_ms: ms(loadgen::quantile(&all, 0.99)),
        max_ms: ms(all.last().copied().unwrap_or_default()),
    }
}

/// Every acknowledged write looked up in the target pod's database.
pub(super) async fn lost_writes(store: &BenchStore, ledger: &Ledger) -> anyhow::Result<Vec<Lost>> {
    let mut db = sqlx::PgConnection::connect(&store.target.1).await?;
    let s = store.id.as_uuid();
    let mut lost = Vec::new();
    for (what, table, ids) in [
        ("products", "products", &ledger.products),
        ("carts", "carts", &ledger.carts),
    ] {
        let (found,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM {table} WHERE store_id = $1 AND id = ANY($2)"
        ))
        .bind(s)
        .bind(ids)
        .fetch_one(&mut db)
        .await?;
        lost.push(Lost {
            what,
            acknowledged: ids.len() as i64,
            on_target: found,
        });
    }
    let (carts, variants): (Vec<Uuid>, Vec<Uuid>) = ledger.lines.iter().copied().unzip();
    let (lines,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM cart_lines
          WHERE store_id = $1 AND (cart_id, variant_id) IN (SELECT * FROM unnest($2::uuid[], $3::uuid[]))",
    )
    .bind(s)
    .bind(&carts)
    .bind(&variants)
    .fetch_one(&mut db)
    .await?;
    lost.push(Lost {
        what: "cart lines",
        acknowledged: ledger.lines.len() as i64,
        on_target: lines,
    });
    // The generated store has no adjustments by the load's actor, and each
    // acknowledged adjustment wrote exactly one.
    let (adjustments,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM stock_adjustments WHERE store_id = $1 AND actor = $2")
            .bind(s)
            .bind(LOAD_ACTOR)
            .fetch_one(&mut db)
            .await?;
    lost.push(Lost {
        what: "stock adjustments",
        acknowledged: ledger.adjustments,
        on_target: adjustments,
    });
    db.close().await?;
    Ok(lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_counts_only_missing_writes() {
        let l = Lost {
            what: "products",
            acknowledged: 10,
            on_target: 12,
        };
        assert_eq!(l.missing(), 0, "unacknowledged writes that landed");
        let l = Lost {
            what: "products",
            acknowledged: 10,
            on_target: 7,
        };
        assert_eq!(l.missing(), 3);
    }
}
