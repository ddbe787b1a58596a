//! The platform on one machine, nothing installed as a system service:
//! Postgres clusters, Redis servers, the `tansu` broker and the test
//! payment gateway as child processes on loopback ([`local`]), for
//! `mercato up` ([`up`]), the benchmarks and the end-to-end tests alike.

pub mod demo_art;
pub mod keys;
pub mod local;
pub mod up;
