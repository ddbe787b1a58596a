//! Fulfillment: which locations ship a paid order's units, and the
//! shipments that carry them.
//!
//! - `plan.rs`: the pure decision (no I/O): given the order's lines, the
//!   shipping address and the locations with their stock, which locations
//!   ship what;
//! - `state.rs`: the shipment lifecycle, mirrored by the
//!   `shipment_transitions` trigger;
//! - `progress.rs` (pure): the order's status given its shipments, and
//!   which waiting units a new (partial) shipment takes;
//! - `shipments.rs`: the I/O: planning at payment (the stock is committed
//!   where it ships from), and staff's shipment writes under the order's
//!   row lock;
//! - `staff.rs`: staff's requests checked and each written in its own
//!   transaction, for the API and the admin's pages alike;
//! - `sql.rs`: every statement on `shipments` and `shipment_lines`.

pub mod plan;
pub mod progress;
pub mod shipments;
pub mod sql;
pub mod staff;
pub mod state;

pub use plan::{
    plan, Coordinates, Destination, Origin, Plan, PlanLine, PlannedShipment, Unplannable,
};
pub use sql::{database_transitions, Tracking};
pub use state::ShipmentStatus;
