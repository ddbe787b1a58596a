//! Lifecycle states of stores, pods, orders and products.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a store stands, as recorded by the control plane and by the pod that
/// hosts it (`hosted_stores`). A pod serves a store only while it is `Active`
/// there; every other state is answered with `421 store_not_here`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantState {
    /// Being placed: reserved in the control plane, not yet live on a pod.
    Provisioning,
    /// Served normally.
    Active,
    /// Cut-over in progress: the router holds the store's requests.
    Frozen,
    /// Fenced on a source pod after a move: late writes are refused.
    MovedOut,
}

impl TenantState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::MovedOut => "moved_out",
        }
    }
}

/// A pod's lifecycle: placement only picks `Active` pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PodState {
    Active,
    /// Its stores are being moved away; placement skips it.
    Draining,
    /// Every store has been moved away.
    Drained,
}

impl PodState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Draining => "draining",
            Self::Drained => "drained",
        }
    }
}

// Where an order stands. The transitions between them are the pod's
// (`mercato_pod::orders::state`); the states travel in its API and in the
// `order.status_changed` event. (Not a doc comment: it would become the
// schema's description in the pod's committed OpenAPI document.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created with an authorized payment, not yet captured.
    Placed,
    /// Payment captured; nothing has left a location yet. (`fulfilling`
    /// is the name of an older, hand-set step that meant the same.)
    #[serde(alias = "fulfilling")]
    Paid,
    /// Some of its units have shipped, not all.
    PartiallyFulfilled,
    /// Every unit has shipped. (`shipped`: its older name.)
    #[serde(alias = "shipped")]
    Fulfilled,
    /// Every shipment has been delivered.
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Placed,
        OrderStatus::Paid,
        OrderStatus::PartiallyFulfilled,
        OrderStatus::Fulfilled,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::PartiallyFulfilled => "partially_fulfilled",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

// Where one shipment of an order stands. The transitions are the pod's
// (`mercato_pod::fulfillment::state`); the states travel in its staff and
// shopper APIs. (Not a doc comment, for the same reason as OrderStatus.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Planned: a location and its lines, nothing done yet.
    Pending,
    LabelCreated,
    /// Left the location: its units are gone from stock.
    Shipped,
    InTransit,
    Delivered,
    Cancelled,
}

impl ShipmentStatus {
    pub const ALL: [ShipmentStatus; 6] = [
        ShipmentStatus::Pending,
        ShipmentStatus::LabelCreated,
        ShipmentStatus::Shipped,
        ShipmentStatus::InTransit,
        ShipmentStatus::Delivered,
        ShipmentStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::Pending => "pending",
            ShipmentStatus::LabelCreated => "label_created",
            ShipmentStatus::Shipped => "shipped",
            ShipmentStatus::InTransit => "in_transit",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

// Where a product review stands in moderation. The transitions are the
// pod's (`mercato_pod::reviews::model::allowed`); the states travel in its
// staff API and in the `review.*` events. (Not a doc comment, for the same
// reason as OrderStatus.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Written, waiting for staff: not shown to shoppers, not counted.
    Pending,
    /// Shown to shoppers and counted in the product's rating.
    Published,
    /// Turned down by staff: never shown nor counted.
    Rejected,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 3] = [Self::Pending, Self::Published, Self::Rejected];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

// Whether a product is for sale (`active`); it travels in the catalog API
// and in the `catalog.product_changed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub const ALL: [ProductStatus; 3] = [Self::Draft, Self::Active, Self::Archived];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A state string that is not one of the known states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

macro_rules! state_text {
    ($ty:ty, $($variant:ident),+) => {
        impl FromStr for $ty {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s == <$ty>::$variant.as_str() { return Ok(<$ty>::$variant); })+
                Err(UnknownState(s.to_string()))
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_text!(TenantState, Provisioning, Active, Frozen, MovedOut);
state_text!(PodState, Active, Draining, Drained);
state_text!(
    OrderStatus,
    Placed,
    Paid,
    PartiallyFulfilled,
    Fulfilled,
    Delivered,
    Cancelled,
    Refunded
);
state_text!(ProductStatus, Draft, Active, Archived);
state_text!(ReviewStatus, Pending, Published, Rejected);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in [
            TenantState::Provisioning,
            TenantState::Active,
            TenantState::Frozen,
            TenantState::MovedOut,
        ] {
            assert_eq!(s.as_str().parse::<TenantState>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!("draining".parse::<PodState>(), Ok(PodState::Draining));
        for s in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.as_str().parse::<ReviewStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(ReviewStatus::parse("spam"), None);
        assert!("bogus".parse::<PodState>().is_err());
    }
}
