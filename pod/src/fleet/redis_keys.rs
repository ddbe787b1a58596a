//! Deleting every Redis key of one store: `SCAN` with the store's prefix as
//! the pattern, `UNLINK` in batches.

use mercato_tenants::StoreId;

use crate::keys;
use crate::redis_handle::Redis;

/// Keys asked for per `SCAN` call.
const SCAN_COUNT: usize = 1000;

/// A `SCAN MATCH` pattern for every key starting with `prefix`: the glob
/// characters of the prefix itself are escaped.
pub fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Deletes every key of `store` from this pod's Redis; how many there were.
pub async fn delete_store_keys(redis: &Redis, store: StoreId) -> Result<u64, redis::RedisError> {
    let mut conn = redis.connection().await?;
    let pattern = prefix_pattern(&keys::store_prefix(store));
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        if !batch.is_empty() {
            let n: u64 = redis::cmd("UNLINK")
                .arg(&batch)
                .query_async(&mut conn)
                .await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_prefix_needs_no_escaping() {
        let store = StoreId::new();
        let prefix = keys::store_prefix(store);
        assert_eq!(prefix_pattern(&prefix), format!("{prefix}*"));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(prefix_pattern("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }
}
