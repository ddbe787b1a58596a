//! Keyset pagination shared by list endpoints: `?limit=&after=`, answered
//! with `{"items": [...], "next_cursor": ...}`.

use mercato_tenants::ApiError;
use serde::Deserialize;

/// `?limit=&after=` of a keyset list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// `limit` of a keyset list: 1 to 100, default 20.
pub fn page_limit<T>(limit: Option<T>) -> Result<T, ApiError>
where
    T: Copy + PartialOrd + From<u8>,
{
    let limit = limit.unwrap_or(T::from(20));
    if limit < T::from(1) || limit > T::from(100) {
        return Err(ApiError::invalid("limit must be 1 to 100"));
    }
    Ok(limit)
}

/// Cuts `items`, fetched with `LIMIT limit + 1`, to `limit`; when there
/// was more, the cursor of the last item kept.
pub fn split_page<T, C>(
    items: &mut Vec<T>,
    limit: usize,
    cursor: impl FnOnce(&T) -> C,
) -> Option<C> {
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    }
}

/// The cursor after `items`, fetched with `LIMIT limit`, when the page is
/// full (the next one may be empty).
pub fn full_page_cursor<T, C>(items: &[T], limit: i64, cursor: impl FnOnce(&T) -> C) -> Option<C> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(cursor))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_20_and_stays_within_1_to_100() {
        assert_eq!(page_limit::<u32>(None).ok(), Some(20));
        assert_eq!(page_limit::<i64>(None).ok(), Some(20));
        assert_eq!(page_limit(Some(1u32)).ok(), Some(1));
        assert_eq!(page_limit(Some(100i64)).ok(), Some(100));
        assert!(page_limit(Some(0u32)).is_err());
        assert!(page_limit(Some(101u32)).is_err());
        assert!(page_limit(Some(-1i64)).is_err());
    }

    #[test]
    fn split_page_keeps_limit_items_and_names_the_last_when_there_is_more() {
        let mut items = vec![1, 2, 3];
        assert_eq!(split_page(&mut items, 2, |i| *i), Some(2));
        assert_eq!(items, vec![1, 2]);
        let mut items = vec![1, 2];
        assert_eq!(split_page(&mut items, 2, |i| *i), None);
        assert_eq!(items, vec![1, 2]);
    }

    #[test]
    fn full_page_cursor_names_the_last_item_of_a_full_page_only() {
        assert_eq!(full_page_cursor(&[1, 2], 2, |i| *i), Some(2));
        assert_eq!(full_page_cursor(&[1], 2, |i| *i), None);
        assert_eq!(full_page_cursor::<i32, i32>(&[], 2, |i| *i), None);
    }
}
