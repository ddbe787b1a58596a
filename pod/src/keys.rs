//! Redis keys. Every key of tenant data starts with `s:{<store_id>}:`; the
//! braces are a Redis Cluster hash tag, so one store's keys share a slot.
//! Keys are built here and nowhere else.

use mercato_tenants::{CartId, CustomerId, ProductId, StoreId, VariantId};

/// The prefix every key of `store` starts with.
pub fn store_prefix(store: StoreId) -> String {
    format!("s:{{{store}}}:")
}

/// Key of a non-tenant, pod-wide value.
pub fn pod_key(name: &str) -> String {
    format!("pod:{name}")
}

/// Version of a product's cached body; bumped by every edit of it.
pub fn product_version(store: StoreId, product: ProductId) -> String {
    format!("{}product-ver:{product}", store_prefix(store))
}

/// Version of everything cached about a store's catalog as a whole (lists,
/// collections); bumped by every catalog edit in the store.
pub fn catalog_version(store: StoreId) -> String {
    format!("{}catalog-ver", store_prefix(store))
}

/// A product's cached body, as shoppers see it (without stock badges).
pub fn product_body(store: StoreId, product: ProductId) -> String {
    format!("{}product:{product}", store_prefix(store))
}

/// A product's view with its stock badges, cached for a couple of seconds
/// only.
pub fn product_view(store: StoreId, product: ProductId) -> String {
    format!("{}product-view:{product}", store_prefix(store))
}

/// A cached page of a product's published reviews, valid under the
/// product's version; `query` names the page (a digest of its parameters).
pub fn product_reviews(store: StoreId, product: ProductId, query: &str) -> String {
    format!("{}reviews:{product}:{query}", store_prefix(store))
}

/// A cached page of a list of the store's catalog; `query` names the page
/// (its parameters), `list` the kind of list.
pub fn catalog_page(store: StoreId, list: &str, query: &str) -> String {
    format!("{}page:{list}:{query}", store_prefix(store))
}

/// A cached storefront page (`name`: which page, e.g. `product:<id>`).
pub fn storefront_page(store: StoreId, name: &str) -> String {
    format!("{}storefront:{name}", store_prefix(store))
}

/// Failed logins to one account (`kind` is `staff` or `customer`) from
/// every client address.
pub fn login_failures_by_account(store: StoreId, kind: &str, email: &str) -> String {
    format!("{}login:fail:{kind}:{email}", store_prefix(store))
}

/// Failed logins to one account from one client address.
pub fn login_failures_by_client(store: StoreId, kind: &str, email: &str, address: &str) -> String {
    format!(
        "{}login:fail-client:{kind}:{email}:{address}",
        store_prefix(store)
    )
}

/// Failed logins from one client address, whatever the account.
pub fn login_failures_by_address(store: StoreId, address: &str) -> String {
    format!("{}login:fail:addr:{address}", store_prefix(store))
}

/// Set while a client address has signed in to an account recently.
pub fn login_known_client(store: StoreId, kind: &str, email: &str, address: &str) -> String {
    format!(
        "{}login:known:{kind}:{email}:{address}",
        store_prefix(store)
    )
}

/// Gift card lookups from one client address in the current window.
pub fn gift_card_lookups_by_address(store: StoreId, address: &str) -> String {
    format!("{}gift-card:lookups:addr:{address}", store_prefix(store))
}

/// Gift card lookups of the store in the current window.
pub fn gift_card_lookups(store: StoreId) -> String {
    format!("{}gift-card:lookups", store_prefix(store))
}

/// Checkout gift card codes from one client address that named no card,
/// in the current window.
pub fn gift_card_misses_by_address(store: StoreId, address: &str) -> String {
    format!("{}gift-card:misses:addr:{address}", store_prefix(store))
}

/// Checkout gift card codes of the store that named no card, in the
/// current window.
pub fn gift_card_misses(store: StoreId) -> String {
    format!("{}gift-card:misses", store_prefix(store))
}

/// The Redis hash holding a copy of a guest's cart.
pub fn guest_cart(store: StoreId, cart: CartId) -> String {
    format!("{}cart:g:{cart}", store_prefix(store))
}

/// The Redis hash holding a copy of a customer's active cart.
pub fn customer_cart(store: StoreId, customer: CustomerId) -> String {
    format!("{}cart:c:{customer}", store_prefix(store))
}

/// A cached search response of `store`, valid while the store's search
/// generation is `generation`; `digest` names the normalised request.
pub fn search_cache(store: StoreId, generation: i64, digest: &str) -> String {
    format!("{}search:{generation}:{digest}", store_prefix(store))
}

/// The hot-SKU gate's counter of a variant: a hash of `n` (units believed
/// available) and `v` (a version bumped by every admit and put-back).
pub fn inventory_gate(store: StoreId, variant: VariantId) -> String {
    format!("{}gate:{variant}", store_prefix(store))
}

/// The set of variants of `store` that have a gate counter, for the
/// reconciliation job.
pub fn inventory_gated(store: StoreId) -> String {
    format!("{}gate-set", store_prefix(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_carry_the_hash_tag() {
        let store = StoreId::new();
        assert_eq!(store_prefix(store), format!("s:{{{store}}}:"));
        assert!(
            login_failures_by_account(store, "staff", "a@b.co").starts_with(&store_prefix(store))
        );
        assert!(login_failures_by_address(store, "127.0.0.1").starts_with(&store_prefix(store)));
        assert!(
            login_failures_by_client(store, "staff", "a@b.co", "127.0.0.1")
                .starts_with(&store_prefix(store))
        );
        assert!(login_known_client(store, "staff", "a@b.co", "127.0.0.1")
            .starts_with(&store_prefix(store)));
        assert!(guest_cart(store, CartId::new()).starts_with(&store_prefix(store)));
        assert!(product_reviews(store, ProductId::new(), "ab").starts_with(&store_prefix(store)));
        assert!(customer_cart(store, CustomerId::new()).starts_with(&store_prefix(store)));
        assert_ne!(
            guest_cart(store, CartId::from_uuid(uuid::Uuid::nil())),
            customer_cart(store, CustomerId::from_uuid(uuid::Uuid::nil()))
        );
        assert!(search_cache(store, 7, "ab").starts_with(&store_prefix(store)));
        assert!(inventory_gate(store, VariantId::new()).starts_with(&store_prefix(store)));
        assert!(inventory_gated(store).starts_with(&store_prefix(store)));
    }
}
