//! Redis keys. Every key of tenant data starts with `s:{<store_id>}:`; the
//! braces are a Redis Cluster hash tag, so one store's keys share a slot.
//! Keys are built here and nowhere else.

use mercato_tenants::StoreId;

/// The prefix every key of `store` starts with.
pub fn store_prefix(store: StoreId) -> String {
    format!("s:{{{store}}}:")
}

/// Key of a non-tenant, pod-wide value.
pub fn pod_key(name: &str) -> String {
    format!("pod:{name}")
}

/// A cached search response of `store`, valid while the store's search
/// generation is `generation`; `digest` names the normalised request.
pub fn search_cache(store: StoreId, generation: i64, digest: &str) -> String {
    format!("{}search:{generation}:{digest}", store_prefix(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_carry_the_hash_tag() {
        let store = StoreId::new();
        assert_eq!(store_prefix(store), format!("s:{{{store}}}:"));
        assert!(search_cache(store, 7, "ab").starts_with(&store_prefix(store)));
    }
}
