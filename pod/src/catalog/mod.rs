//! The catalog: products and their variants. The variant is the unit of
//! price (and later of stock); its SKU is unique within a store.
//!
//! Staff write through `/admin/api/products`; shoppers read active products
//! through `/api/products`.

mod model;
mod routes;
mod store;

pub use model::{NewProduct, NewVariant, Product, ProductPatch, ProductStatus, Sku, Variant};
pub use routes::router;
pub use store::{get_product, insert_product, list_products, Page};
