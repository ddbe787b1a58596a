//! Fulfillment: which locations ship a paid order's units, and the
//! shipments that carry them.
//!
//! `plan.rs` is the pure decision (no I/O): given the order's lines, the
//! shipping address and the active locations with their stock, it picks
//! the shipments. `state.rs` is the shipment lifecycle, mirrored by the
//! `shipment_transitions` trigger. `sql.rs` holds every statement; the
//! tables are `shipments` and `shipment_lines`.

pub mod plan;
pub mod sql;
pub mod state;

pub use plan::{
    plan, Coordinates, Destination, Origin, Plan, PlanLine, PlannedShipment, Unplannable,
};
pub use sql::database_transitions;
pub use state::ShipmentStatus;
