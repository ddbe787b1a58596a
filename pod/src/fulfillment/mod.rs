//! Fulfillment: which locations ship a paid order's units, and (to come)
//! the shipments that carry them.
//!
//! `plan.rs` is the pure decision (no I/O): given the order's lines, the
//! shipping address and the active locations with their stock, it picks
//! the shipments. It is property-tested on its own.

pub mod plan;

pub use plan::{
    plan, Coordinates, Destination, Origin, Plan, PlanLine, PlannedShipment, Unplannable,
};
