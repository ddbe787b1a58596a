//! The `mercato` binary's library: configuration loading and serving one
//! process (`mercato serve ...`, `mercato gateway`). The binary's other
//! commands live in crates of their own: `mercato-devstack` (`up`),
//! `mercato-gateway`, `mercato-bench` (`bench`, `seed-catalog`) and
//! `mercato-ops` (`token` and the operator commands).

pub mod config;
pub mod serve;
pub mod telemetry;
