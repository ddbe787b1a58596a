//! The shared vocabulary of Mercato.
//!
//! Everything here is plain data and pure functions: ids, validated names,
//! states, the versioned routing table, token claims, the error-code
//! catalogue, and each wire contract between two processes, declared once
//! so that both sides use the same types: the pod's internal API
//! ([`pod_api`]), the events the pods publish ([`events`]) and the control
//! plane's operator API ([`operator`]). This crate performs no I/O (no
//! sockets, files or databases); the HTTP glue in [`http`] only shapes
//! requests and responses that other crates serve.

pub mod account;
pub mod backoff;
pub mod claims;
pub mod domain;
pub mod error;
pub mod events;
pub mod forms;
pub mod hop;
pub mod http;
pub mod id;
pub mod json;
pub mod keys;
pub mod money;
pub mod openapi;
pub mod operator;
pub mod pod_api;
pub mod routing;
pub mod signature;
pub mod state;
pub mod text;
pub mod trace;

pub use account::{Email, Password};
pub use claims::{Claims, IssuedToken, Party, Role};
pub use domain::{Domain, Handle, NameError};
pub use error::{ApiError, ErrorCode};
pub use id::GiftCardId;
pub use id::{
    AddressId, AdjustmentId, ApiKeyId, CartId, CategoryId, CheckoutId, CollectionId, CustomerId,
    DiscountId, EventId, HoldId, HoldOwner, JobId, LocationId, MediaId, MoveId, OrderId, PodId,
    ProductId, RefundId, ReturnId, ReviewId, SessionId, ShipmentId, StaffId, StoreId, VariantId,
    WebhookDeliveryId, WebhookId,
};
pub use keys::{KeyError, KeyRing, SigningKey, TokenConfig, TokenError, TokenKeys};
pub use money::{Currency, Money};
pub use routing::{Resolution, RoutingChange, RoutingError, RoutingTable, RoutingUpdate};
pub use state::{OrderStatus, PodState, ProductStatus, ReviewStatus, ShipmentStatus, TenantState};
pub use trace::{TelemetryConfig, TraceParent};

/// Header the router uses to tell a pod which store a request is for.
/// The router strips any client-supplied value before setting it.
pub const STORE_HEADER: &str = "x-mercato-store-id";
/// Header carrying the request id from the router to the pods.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The pod tables that hold tenant data: every ordinary table of the public
/// schema with a `store_id` column, except `hosted_stores` (the pod's own
/// registry of the stores it serves, which never moves). A store move
/// replicates exactly these tables and a purge deletes from exactly these,
/// so a table added later moves with its store without further code.
pub const TENANT_TABLES_SQL: &str = "SELECT c.relname::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'store_id' AND NOT a.attisdropped \
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'hosted_stores' \
     ORDER BY c.relname";

/// `name` quoted as an SQL identifier (table and column names read from
/// the catalog go into dynamic SQL this way).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod quoting_tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("orders"), "\"orders\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
