//! The Mercato edge router: one listener for every store domain.
//!
//! Host → store → pod from a routing table kept in sync with the control
//! plane ([`sync`]); requests are served by plain hyper ([`serve`]) and proxied
//! over each serving thread's keep-alive connections ([`proxy`],
//! [`upstream`]). It keeps serving from its last table when the control plane
//! is down.

pub mod config;
pub mod gate;
pub mod limits;
pub mod proxy;
pub mod serve;
pub mod startup;
pub mod sync;
pub mod upstream;
pub mod waiting;
pub mod waiting_room;

pub use config::RouterConfig;
pub use startup::{Application, RouterState};
