//! Redis keys. Every key of tenant data starts with `s:{<store_id>}:`; the
//! braces are a Redis Cluster hash tag, so one store's keys share a slot.
//! Keys are built here and nowhere else.

use mercato_tenants::{CartId, CustomerId, StoreId};

/// The prefix every key of `store` starts with.
pub fn store_prefix(store: StoreId) -> String {
    format!("s:{{{store}}}:")
}

/// Key of a non-tenant, pod-wide value.
pub fn pod_key(name: &str) -> String {
    format!("pod:{name}")
}

/// The Redis hash holding a copy of a guest's cart.
pub fn guest_cart(store: StoreId, cart: CartId) -> String {
    format!("{}cart:g:{cart}", store_prefix(store))
}

/// The Redis hash holding a copy of a customer's active cart.
pub fn customer_cart(store: StoreId, customer: CustomerId) -> String {
    format!("{}cart:c:{customer}", store_prefix(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_carry_the_hash_tag() {
        let store = StoreId::new();
        assert_eq!(store_prefix(store), format!("s:{{{store}}}:"));
        assert!(guest_cart(store, CartId::new()).starts_with(&store_prefix(store)));
        assert!(customer_cart(store, CustomerId::new()).starts_with(&store_prefix(store)));
        assert_ne!(
            guest_cart(store, CartId::from_uuid(uuid::Uuid::nil())),
            customer_cart(store, CustomerId::from_uuid(uuid::Uuid::nil()))
        );
    }
}
