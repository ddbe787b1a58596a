//! Id newtypes. Ids are UUIDv7 made by the application, so a store's rows can
//! be copied to another pod unchanged (no sequences).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct InvalidId(pub String);

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId(s.chars().take(64).collect()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A store (tenant). The leading key column of every pod table.
    StoreId
);
id_type!(
    /// A pod: one isolated commerce stack.
    PodId
);
id_type!(
    /// A product in a store's catalog.
    ProductId
);
id_type!(
    /// A variant: the unit of price and stock.
    VariantId
);
id_type!(
    /// A collection of products (manual or rule-based).
    CollectionId
);
id_type!(
    /// A node of a store's category tree.
    CategoryId
);
id_type!(
    /// An image attached to a product.
    MediaId
);
id_type!(
    /// A staff account of a store.
    StaffId
);
id_type!(
    /// A revocable API key for a store's integrations.
    ApiKeyId
);
id_type!(
    /// A shopper's account in one store.
    CustomerId
);
id_type!(
    /// A postal address in a customer's address book.
    AddressId
);
id_type!(
    /// A login session (customer or staff); logging out ends it.
    SessionId
);
id_type!(
    /// A shopping cart.
    CartId
);
id_type!(
    /// An event in a store's outbox.
    EventId
);
id_type!(
    /// A stock location (warehouse) of a store.
    LocationId
);
id_type!(
    /// One location's part of an order, shipped as one parcel.
    ShipmentId
);
id_type!(
    /// A hold: units of a variant reserved at a location for a checkout.
    HoldId
);
id_type!(
    /// A row of the stock audit: one change of units on hand.
    AdjustmentId
);
id_type!(
    /// One checkout attempt: the saga's row, keyed by the client's
    /// Idempotency-Key.
    CheckoutId
);
id_type!(
    /// An order.
    OrderId
);
id_type!(
    /// Whatever holds reserved stock: today a checkout (its [`CheckoutId`]).
    HoldOwner
);
id_type!(
    /// A live move of one store from one pod to another.
    MoveId
);
id_type!(
    /// An operator job (drain or rebalance): a plan of moves run in order.
    JobId
);
id_type!(
    /// A store's webhook subscription.
    WebhookId
);
id_type!(
    /// One webhook delivery: an event for a subscription.
    WebhookDeliveryId
);
id_type!(
    /// A customer's review of a product.
    ReviewId
);
id_type!(
    /// A return of some of an order's units.
    ReturnId
);
id_type!(
    /// Money given back on an order: a partial or full refund.
    RefundId
);
id_type!(
    /// A discount of a store: a code shoppers enter, or an automatic one.
    DiscountId
);
id_type!(
    /// A gift card: money of a store a code spends.
    GiftCardId
);

impl From<CheckoutId> for HoldOwner {
    fn from(checkout: CheckoutId) -> Self {
        Self(checkout.as_uuid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = StoreId::new();
        let parsed: StoreId = id.to_string().parse().expect("parses");
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, format!("\"{id}\""));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!("not-a-uuid".parse::<StoreId>().is_err());
        assert!("".parse::<PodId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = ProductId::new();
        let b = ProductId::new();
        assert!(a < b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }
}
