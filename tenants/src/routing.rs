//! The routing table: which pod serves each store and which store each
//! domain names. The control plane owns it and publishes numbered versions;
//! routers hold a copy and apply updates in order.
//!
//! One wire shape serves both cases: an update with no `base` is a full
//! snapshot that replaces the table; an update with a `base` is a delta that
//! applies only to a table at exactly that version.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Domain, PodId, StoreId, TenantState};

/// One change to the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoutingChange {
    /// A pod exists at this internal URL.
    Pod { pod: PodId, url: String },
    /// A store is served by `pod` in `state`.
    Store {
        store: StoreId,
        pod: PodId,
        state: TenantState,
    },
    /// A store is gone; its domains go with it.
    StoreRemoved { store: StoreId },
    /// A domain names a store.
    Domain { domain: Domain, store: StoreId },
    /// A domain no longer names any store.
    DomainRemoved { domain: Domain },
}

/// A numbered step of the table's history (or, without `base`, all of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoutingUpdate {
    /// The version this delta applies to; `None` for a full snapshot.
    pub base: Option<u64>,
    /// The version the table has after applying it.
    pub version: u64,
    pub changes: Vec<RoutingChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("update is based on version {base} but the table is at {have}")]
    StaleBase { have: u64, base: u64 },
    #[error("update to version {version} does not move past base {base}")]
    NotNewer { base: u64, version: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StoreRoute {
    pod: PodId,
    state: TenantState,
}

/// Where a request for a domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub store: StoreId,
    pub pod: PodId,
    /// `None` when the store's pod is not (yet) in the table.
    pub pod_url: Option<Arc<str>>,
    pub state: TenantState,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingTable {
    version: u64,
    pods: HashMap<PodId, Arc<str>>,
    stores: HashMap<StoreId, StoreRoute>,
    domains: HashMap<Domain, StoreId>,
}

impl RoutingTable {
    /// The empty table at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn store_count(&self) -> usize {
        self.stores.len()
    }

    /// Applies an update; on error the table is unchanged.
    pub fn apply(&mut self, update: &RoutingUpdate) -> Result<(), RoutingError> {
        match update.base {
            None => {
                let mut fresh = RoutingTable::new();
                fresh.apply_changes(&update.changes);
                fresh.version = update.version;
                *self = fresh;
            }
            Some(base) => {
                if base != self.version {
                    return Err(RoutingError::StaleBase {
                        have: self.version,
                        base,
                    });
                }
                if update.version <= base {
                    return Err(RoutingError::NotNewer {
                        base,
                        version: update.version,
                    });
                }
                self.apply_changes(&update.changes);
                self.version = update.version;
            }
        }
        Ok(())
    }

    fn apply_changes(&mut self, changes: &[RoutingChange]) {
        for change in changes {
            match change {
                RoutingChange::Pod { pod, url } => {
                    self.pods.insert(*pod, Arc::from(url.trim_end_matches('/')));
                }
                RoutingChange::Store { store, pod, state } => {
                    self.stores.insert(
                        *store,
                        StoreRoute {
                            pod: *pod,
                            state: *state,
                        },
                    );
                }
                RoutingChange::StoreRemoved { store } => {
                    self.stores.remove(store);
                    self.domains.retain(|_, s| s != store);
                }
                RoutingChange::Domain { domain, store } => {
                    self.domains.insert(domain.clone(), *store);
                }
                RoutingChange::DomainRemoved { domain } => {
                    self.domains.remove(domain);
                }
            }
        }
    }

    /// The store a domain names and where it is served.
    pub fn resolve(&self, domain: &Domain) -> Option<Resolution> {
        let store = *self.domains.get(domain)?;
        self.route(store)
    }

    /// Where a store is served.
    pub fn route(&self, store: StoreId) -> Option<Resolution> {
        let route = self.stores.get(&store)?;
        Some(Resolution {
            store,
            pod: route.pod,
            pod_url: self.pods.get(&route.pod).cloned(),
            state: route.state,
        })
    }

    /// The whole table as one snapshot update.
    pub fn snapshot(&self) -> RoutingUpdate {
        let mut changes: Vec<RoutingChange> =
            Vec::with_capacity(self.pods.len() + self.stores.len() + self.domains.len());
        let mut pods: Vec<_> = self.pods.iter().collect();
        pods.sort_by_key(|(id, _)| **id);
        changes.extend(pods.into_iter().map(|(pod, url)| RoutingChange::Pod {
            pod: *pod,
            url: url.to_string(),
        }));
        let mut stores: Vec<_> = self.stores.iter().collect();
        stores.sort_by_key(|(id, _)| **id);
        changes.extend(stores.into_iter().map(|(store, r)| RoutingChange::Store {
            store: *store,
            pod: r.pod,
            state: r.state,
        }));
        let mut domains: Vec<_> = self.domains.iter().collect();
        domains.sort();
        changes.extend(
            domains
                .into_iter()
                .map(|(domain, store)| RoutingChange::Domain {
                    domain: domain.clone(),
                    store: *store,
                }),
        );
        RoutingUpdate {
            base: None,
            version: self.version,
            changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(s: &str) -> Domain {
        Domain::parse(s).expect("valid domain")
    }

    fn seeded() -> (RoutingTable, StoreId, PodId) {
        let (store, pod) = (StoreId::new(), PodId::new());
        let mut table = RoutingTable::new();
        table
            .apply(&RoutingUpdate {
                base: None,
                version: 3,
                changes: vec![
                    RoutingChange::Pod {
                        pod,
                        url: "http://127.0.0.1:9001/".into(),
                    },
                    RoutingChange::Store {
                        store,
                        pod,
                        state: TenantState::Active,
                    },
                    RoutingChange::Domain {
                        domain: domain("a.localhost"),
                        store,
                    },
                ],
            })
            .expect("snapshot applies");
        (table, store, pod)
    }

    #[test]
    fn snapshot_then_resolve() {
        let (table, store, pod) = seeded();
        assert_eq!(table.version(), 3);
        let r = table.resolve(&domain("a.localhost")).expect("resolves");
        assert_eq!((r.store, r.pod, r.state), (store, pod, TenantState::Active));
        assert_eq!(r.pod_url.as_deref(), Some("http://127.0.0.1:9001"));
        assert!(table.resolve(&domain("b.localhost")).is_none());
    }

    #[test]
    fn deltas_apply_only_on_their_base() {
        let (mut table, store, _) = seeded();
        let pod2 = PodId::new();
        let delta = RoutingUpdate {
            base: Some(3),
            version: 4,
            changes: vec![
                RoutingChange::Pod {
                    pod: pod2,
                    url: "http://127.0.0.1:9002".into(),
                },
                RoutingChange::Store {
                    store,
                    pod: pod2,
                    state: TenantState::Active,
                },
            ],
        };
        let stale = RoutingUpdate {
            base: Some(2),
            ..delta.clone()
        };
        let before = table.clone();
        assert_eq!(
            table.apply(&stale),
            Err(RoutingError::StaleBase { have: 3, base: 2 })
        );
        assert_eq!(table, before, "a refused update leaves the table unchanged");
        table.apply(&delta).expect("applies");
        assert_eq!(table.version(), 4);
        assert_eq!(table.route(store).expect("routed").pod, pod2);
        assert_eq!(
            table.apply(&delta),
            Err(RoutingError::StaleBase { have: 4, base: 3 })
        );
    }

    #[test]
    fn removing_a_store_drops_its_domains() {
        let (mut table, store, _) = seeded();
        table
            .apply(&RoutingUpdate {
                base: Some(3),
                version: 4,
                changes: vec![RoutingChange::StoreRemoved { store }],
            })
            .expect("applies");
        assert!(table.resolve(&domain("a.localhost")).is_none());
        assert_eq!(table.store_count(), 0);
    }

    #[test]
    fn snapshot_round_trips() {
        let (table, _, _) = seeded();
        let snap = table.snapshot();
        let json = serde_json::to_string(&snap).expect("json");
        let back: RoutingUpdate = serde_json::from_str(&json).expect("parses");
        let mut copy = RoutingTable::new();
        copy.apply(&back).expect("applies");
        assert_eq!(copy, table);
    }

    #[test]
    fn not_newer_is_refused() {
        let (mut table, _, _) = seeded();
        let err = table.apply(&RoutingUpdate {
            base: Some(3),
            version: 3,
            changes: vec![],
        });
        assert_eq!(
            err,
            Err(RoutingError::NotNewer {
                base: 3,
                version: 3
            })
        );
    }
}
