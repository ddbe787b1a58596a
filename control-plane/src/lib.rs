//! The Mercato control plane: the registry of pods and stores, placement,
//! custom domains, and the versioned routing table that routers follow.
//!
//! Contexts: [`pods`], [`stores`] (with [`placement`], a pure function), and
//! [`routing`] (the change log and the long-poll that publishes it), and
//! [`analytics`] (per-store sales from the pods' order events on Kafka).
//! [`fleet`] reads the pods' load figures; [`rebalance`] plans rebalancing
//! and draining moves over them (pure); [`moves`] carries out one store's
//! move and [`jobs`] runs drains and rebalances as plans of moves.
//! [`web`] serves the platform's own pages: signup, the merchants'
//! sign-in, and the operator console.

pub mod analytics;
pub mod auth;
pub mod config;
pub mod error;
pub mod fleet;
pub mod jobs;
pub mod loads;
pub mod moves;
pub mod placement;
pub mod pod_client;
pub mod pods;
pub mod rebalance;
pub mod routing;
pub mod signup;
pub mod startup;
pub mod stores;
pub mod web;

pub use config::ControlPlaneConfig;
pub use startup::{AppState, Application};
