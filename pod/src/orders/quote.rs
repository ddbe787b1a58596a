//! What an order says: the priced lines, shipping and tax that a checkout
//! quoted (`checkout::model::quote` computes it) and the order keeps.

use mercato_tenants::{Currency, ProductId, VariantId};
use serde::{Deserialize, Serialize};

/// A line as it will be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuoteLine {
    pub variant_id: VariantId,
    pub product_id: ProductId,
    pub sku: String,
    pub title: String,
    pub variant_title: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// The priced checkout: what the order will say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    pub currency: Currency,
    pub lines: Vec<QuoteLine>,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub shipping_option: ShippingChoice,
    #[schema(value_type = Object)]
    pub shipping_address: serde_json::Value,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingChoice {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    pub tax_name: Option<String>,
    pub tax_rate_bp: i32,
}
