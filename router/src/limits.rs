//! Rate limits at the edge: token buckets per client address for the
//! requests an attacker or a script repeats (signup, logins, registration,
//! password resets, order lookups, search), and one per store for all of
//! its traffic, so one store's crowd or scraper cannot take its pod from
//! the others. Over the limit: `429 rate_limited` with `Retry-After`.
//!
//! Several routers: each process holds its own buckets and enforces its
//! `share` of every budget (`share = 1 / routers` behind a load balancer
//! that spreads clients evenly), so the fleet's limit is the configured one
//! without a shared store on the request path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;
use mercato_tenants::StoreId;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A budget: `per_minute` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: f64,
    pub burst: f64,
}

impl Rate {
    const fn new(per_minute: f64, burst: f64) -> Self {
        Self { per_minute, burst }
    }
}

/// The budgets of one router process (before its `share`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Off: no limit at all (a test stack that signs up hundreds of stores
    /// from one address).
    pub enabled: bool,
    /// This router's part of every budget, in (0, 1].
    pub share: f64,
    pub signup: Rate,
    pub login: Rate,
    pub registration: Rate,
    pub password_reset: Rate,
    pub order_lookup: Rate,
    pub search: Rate,
    /// Every request of one store, from anyone.
    pub per_store: Rate,
    /// Stores on another plan: store id → their per-store budget.
    pub store_plans: HashMap<StoreId, Rate>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            share: 1.0,
            signup: Rate::new(10.0, 5.0),
            login: Rate::new(30.0, 10.0),
            registration: Rate::new(10.0, 5.0),
            password_reset: Rate::new(5.0, 3.0),
            order_lookup: Rate::new(30.0, 10.0),
            search: Rate::new(600.0, 60.0),
            per_store: Rate::new(3_000_000.0, 50_000.0),
            store_plans: HashMap::new(),
        }
    }
}

/// What a request counts against, by client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Signup,
    Login,
    Registration,
    PasswordReset,
    OrderLookup,
    Search,
}

/// The class of a request, if it has one. `platform`: the request is for
/// the platform domain (the control plane's API).
pub fn classify(method: &Method, path: &str, platform: bool) -> Option<Class> {
    let path = path.split('?').next().unwrap_or(path);
    // The JSON APIs and the web pages' forms that do the same count alike.
    if platform {
        return match (method.as_str(), path) {
            ("POST", "/v1/signup" | "/signup") => Some(Class::Signup),
            ("POST", "/login" | "/console/login") => Some(Class::Login),
            ("POST", "/reset") => Some(Class::PasswordReset),
            ("GET", p) if p.starts_with("/v1/handles/") => Some(Class::Search),
            _ => None,
        };
    }
    match (method.as_str(), path) {
        (
            "POST",
            "/admin/api/login"
            | "/api/customers/login"
            | "/admin/login"
            | "/account/login"
            | "/account/confirm"
            | "/admin/handoff",
        ) => Some(Class::Login),
        ("POST", "/api/customers" | "/account/register") => Some(Class::Registration),
        (
            "POST",
            "/api/customers/password-reset"
            | "/api/customers/password-reset/confirm"
            | "/account/reset"
            | "/account/reset-password"
            | "/admin/api/password-reset"
            | "/admin/api/password-reset/confirm"
            | "/admin/reset"
            | "/admin/reset-password",
        ) => Some(Class::PasswordReset),
        ("GET", "/api/search" | "/api/search/suggest") => Some(Class::Search),
        ("GET", p)
            if p.strip_prefix("/api/orders/")
                .is_some_and(|n| !n.contains('/')) =>
        {
            Some(Class::OrderLookup)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(Class, IpAddr),
    Store(StoreId),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept at most; beyond, full (idle) buckets are dropped first.
const MAX_BUCKETS: usize = 100_000;

pub struct Limiter {
    config: LimitsConfig,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl Limiter {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            buckets: Mutex::default(),
        }
    }

    fn rate(&self, class: Class) -> Rate {
        let c = &self.config;
        match class {
            Class::Signup => c.signup,
            Class::Login => c.login,
            Class::Registration => c.registration,
            Class::PasswordReset => c.password_reset,
            Class::OrderLookup => c.order_lookup,
            Class::Search => c.search,
        }
    }

    /// Counts a request of `class` from `client`; `Err(wait)` when over.
    pub fn client(&self, class: Class, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.config.enabled {
            return Ok(());
        }
        self.take(Key::Client(class, client), self.rate(class), now)
    }

    /// Counts a request for `store`; `Err(wait)` when over.
    pub fn store(&self, store: StoreId, now: Instant) -> Result<(), Duration> {
        if !self.config.enabled {
            return Ok(());
        }
        let rate = self
            .config
            .store_plans
            .get(&store)
            .copied()
            .unwrap_or(self.config.per_store);
        self.take(Key::Store(store), rate, now)
    }

    fn take(&self, key: Key, rate: Rate, now: Instant) -> Result<(), Duration> {
        let share = self.config.share.clamp(f64::MIN_POSITIVE, 1.0);
        let per_sec = rate.per_minute * share / 60.0;
        let burst = (rate.burst * share).max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec;
        bucket.tokens = refilled.min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        if per_sec <= 0.0 {
            return Err(Duration::from_secs(60));
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(share: f64) -> Limiter {
        Limiter::new(LimitsConfig {
            share,
            login: Rate::new(60.0, 3.0),
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn a_burst_then_one_per_refill_and_each_client_apart() {
        let l = limiter(1.0);
        let (a, b): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().expect("ip"),
            "203.0.113.2".parse().expect("ip"),
        );
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.client(Class::Login, a, t), Ok(()));
        }
        let wait = l.client(Class::Login, a, t).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(
            l.client(Class::Login, b, t),
            Ok(()),
            "another client has its own"
        );
        assert_eq!(l.client(Class::Search, a, t), Ok(()), "another class too");
        // One a second comes back.
        assert_eq!(
            l.client(Class::Login, a, t + Duration::from_secs(1)),
            Ok(())
        );
        assert!(l
            .client(Class::Login, a, t + Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn each_router_enforces_its_share() {
        let l = limiter(1.0 / 3.0);
        let a: IpAddr = "198.51.100.1".parse().expect("ip");
        let t = Instant::now();
        assert_eq!(l.client(Class::Login, a, t), Ok(()));
        assert!(l.client(Class::Login, a, t).is_err(), "a third of 3 is 1");
        // 60/min split three ways: one every 3 s here.
        assert!(l
            .client(Class::Login, a, t + Duration::from_secs(2))
            .is_err());
        assert_eq!(
            l.client(Class::Login, a, t + Duration::from_secs(4)),
            Ok(())
        );
    }

    #[test]
    fn stores_have_a_budget_and_a_plan_changes_it() {
        let mut config = LimitsConfig {
            per_store: Rate::new(60.0, 2.0),
            ..LimitsConfig::default()
        };
        let (small, big) = (StoreId::new(), StoreId::new());
        config.store_plans.insert(big, Rate::new(6_000.0, 100.0));
        let l = Limiter::new(config);
        let t = Instant::now();
        assert!(l.store(small, t).is_ok() && l.store(small, t).is_ok());
        assert!(l.store(small, t).is_err());
        assert!((0..100).all(|_| l.store(big, t).is_ok()));
    }

    #[test]
    fn what_counts_as_what() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(classify(&post, "/v1/signup", true), Some(Class::Signup));
        assert_eq!(classify(&post, "/v1/signup", false), None);
        // The web pages' forms count as their API twins do.
        assert_eq!(classify(&post, "/signup", true), Some(Class::Signup));
        assert_eq!(classify(&post, "/login", true), Some(Class::Login));
        assert_eq!(classify(&post, "/console/login", true), Some(Class::Login));
        assert_eq!(classify(&post, "/admin/login", false), Some(Class::Login));
        assert_eq!(classify(&post, "/account/login", false), Some(Class::Login));
        assert_eq!(classify(&post, "/admin/handoff", false), Some(Class::Login));
        assert_eq!(
            classify(&post, "/account/register", false),
            Some(Class::Registration)
        );
        assert_eq!(
            classify(&post, "/account/reset", false),
            Some(Class::PasswordReset)
        );
        assert_eq!(
            classify(&post, "/account/reset-password", false),
            Some(Class::PasswordReset)
        );
        // Staff resets: the admin's API and pages, and the platform's page.
        for path in [
            "/admin/api/password-reset",
            "/admin/api/password-reset/confirm",
            "/admin/reset",
            "/admin/reset-password",
        ] {
            assert_eq!(
                classify(&post, path, false),
                Some(Class::PasswordReset),
                "{path}"
            );
            assert_eq!(classify(&get, path, false), None, "{path}");
            assert_eq!(classify(&post, path, true), None, "{path}");
        }
        assert_eq!(classify(&post, "/reset", true), Some(Class::PasswordReset));
        assert_eq!(classify(&get, "/reset", true), None);
        assert_eq!(classify(&post, "/reset", false), None);
        assert_eq!(
            classify(&get, "/v1/handles/acme", true),
            Some(Class::Search)
        );
        assert_eq!(classify(&get, "/signup", true), None);
        assert_eq!(
            classify(&post, "/api/customers/login", false),
            Some(Class::Login)
        );
        assert_eq!(
            classify(&post, "/admin/api/login", false),
            Some(Class::Login)
        );
        assert_eq!(
            classify(&post, "/api/customers", false),
            Some(Class::Registration)
        );
        assert_eq!(
            classify(&post, "/api/customers/password-reset/confirm", false),
            Some(Class::PasswordReset)
        );
        assert_eq!(
            classify(&get, "/api/orders/1001?email=a@b.c", false),
            Some(Class::OrderLookup)
        );
        assert_eq!(
            classify(&get, "/api/search/suggest?q=te", false),
            Some(Class::Search)
        );
        assert_eq!(classify(&get, "/api/products", false), None);
        assert_eq!(classify(&get, "/api/customers/me/orders", false), None);
    }
}
