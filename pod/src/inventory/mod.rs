//! Inventory: units on hand per variant, and the stock badge shoppers see.
//!
//! Holds, the Redis gate and reconciliation come with checkout; this module
//! is the only one that reads or writes `inventory_levels`.

mod routes;

use std::collections::HashMap;

use mercato_tenants::{StoreId, VariantId};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

pub use routes::{router, ApiDoc};

/// What a shopper is told about a variant's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Badge {
    InStock,
    Low,
    SoldOut,
}

/// A variant's stock level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Level {
    pub on_hand: i32,
    pub low_stock_threshold: i32,
}

impl Level {
    pub const NONE: Level = Level {
        on_hand: 0,
        low_stock_threshold: 5,
    };

    pub fn badge(self) -> Badge {
        if self.on_hand <= 0 {
            Badge::SoldOut
        } else if self.on_hand <= self.low_stock_threshold {
            Badge::Low
        } else {
            Badge::InStock
        }
    }
}

/// Levels of `variants`; a variant without a row has none on hand.
pub async fn levels<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    variants: &[VariantId],
) -> Result<HashMap<VariantId, Level>, sqlx::Error> {
    let ids: Vec<Uuid> = variants.iter().map(VariantId::as_uuid).collect();
    let rows: Vec<(Uuid, i32, i32)> = sqlx::query_as(
        "SELECT variant_id, on_hand, low_stock_threshold FROM inventory_levels
         WHERE store_id = $1 AND variant_id = ANY($2)",
    )
    .bind(store.as_uuid())
    .bind(&ids)
    .fetch_all(exec)
    .await?;
    let mut out: HashMap<VariantId, Level> = variants.iter().map(|v| (*v, Level::NONE)).collect();
    for (id, on_hand, low_stock_threshold) in rows {
        out.insert(
            VariantId::from_uuid(id),
            Level {
                on_hand,
                low_stock_threshold,
            },
        );
    }
    Ok(out)
}

/// Sets the units on hand of a variant (and optionally its low-stock
/// threshold); the caller has checked the variant belongs to the store.
pub async fn set_level<'e>(
    exec: impl PgExecutor<'e>,
    store: StoreId,
    variant: VariantId,
    on_hand: i32,
    low_stock_threshold: Option<i32>,
) -> Result<Level, sqlx::Error> {
    let (on_hand, low_stock_threshold): (i32, i32) = sqlx::query_as(
        "INSERT INTO inventory_levels (store_id, variant_id, on_hand, low_stock_threshold)
         VALUES ($1, $2, $3, COALESCE($4, 5))
         ON CONFLICT (store_id, variant_id) DO UPDATE
            SET on_hand = EXCLUDED.on_hand,
                low_stock_threshold = COALESCE($4, inventory_levels.low_stock_threshold),
                updated_at = now()
         RETURNING on_hand, low_stock_threshold",
    )
    .bind(store.as_uuid())
    .bind(variant.as_uuid())
    .bind(on_hand)
    .bind(low_stock_threshold)
    .fetch_one(exec)
    .await?;
    Ok(Level {
        on_hand,
        low_stock_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges() {
        let at = |on_hand| Level {
            on_hand,
            low_stock_threshold: 3,
        };
        assert_eq!(at(0).badge(), Badge::SoldOut);
        assert_eq!(at(1).badge(), Badge::Low);
        assert_eq!(at(3).badge(), Badge::Low);
        assert_eq!(at(4).badge(), Badge::InStock);
        assert_eq!(Level::NONE.badge(), Badge::SoldOut);
    }
}
