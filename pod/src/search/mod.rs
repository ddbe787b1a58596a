//! Product search for shoppers: full text with ranking, as-you-type
//! prefixes, spelling correction and a trigram fallback, filters with
//! disjunctive facet counts, keyset pagination, and title suggestions.
//!
//! Reads go to `search_documents`, one row per product derived from the
//! catalog by [`reindex`] inside every catalog write transaction, so a saved
//! product is searchable once its transaction commits. Responses are cached
//! in Redis under the store's search generation, which every reindex bumps
//! in the same transaction: a commit makes all older entries unreachable.

pub(crate) mod query;
pub mod response;
pub(crate) mod sql;

use mercato_tenants::{ApiError, ErrorCode};

pub use query::{Cursor, Filters, InvalidSearch, SearchParams, Sort};
pub use sql::index::{reindex, reindex_store, touch};

use crate::error::PodError;

/// A refused search as the client sees it: the one place where search's
/// refusals meet error codes. A filter that is not an id is `400
/// invalid_id`, anything else `400 invalid_request`; the message is the
/// refusal's own text.
impl From<InvalidSearch> for ApiError {
    fn from(e: InvalidSearch) -> Self {
        let code = match e {
            InvalidSearch::Id { .. } => ErrorCode::InvalidId,
            _ => ErrorCode::InvalidRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<InvalidSearch> for PodError {
    fn from(e: InvalidSearch) -> Self {
        PodError::Api(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_codes_and_messages() {
        for (refusal, code, message) in [
            (
                InvalidSearch::Id { param: "category" },
                ErrorCode::InvalidId,
                "category must be an id",
            ),
            (
                InvalidSearch::Limit { max: 100 },
                ErrorCode::InvalidRequest,
                "limit must be 1 to 100",
            ),
            (
                InvalidSearch::ValueLength {
                    param: "vendor",
                    max: 255,
                },
                ErrorCode::InvalidRequest,
                "vendor must be 1 to 255 characters",
            ),
            (
                InvalidSearch::TooManyValues {
                    param: "tag",
                    max: 20,
                },
                ErrorCode::InvalidRequest,
                "at most 20 values of tag",
            ),
            (
                InvalidSearch::Price { param: "price_max" },
                ErrorCode::InvalidRequest,
                "price_max must be a whole number of minor units, 0 to 10^12",
            ),
            (
                InvalidSearch::UnknownParam("bogus".into()),
                ErrorCode::InvalidRequest,
                "unknown parameter `bogus`",
            ),
            (
                InvalidSearch::Repeated { param: "q".into() },
                ErrorCode::InvalidRequest,
                "q may be given once",
            ),
        ] {
            let api = ApiError::from(refusal);
            assert_eq!((api.code, api.message.as_str()), (code, message));
        }
        let pod = PodError::from(InvalidSearch::QMissing).into_api();
        assert_eq!(
            (pod.code, pod.message.as_str()),
            (ErrorCode::InvalidRequest, "q is required")
        );
    }
}
