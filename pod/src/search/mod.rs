//! Product search for shoppers: full text with ranking, as-you-type
//! prefixes, spelling correction and a trigram fallback, filters with
//! disjunctive facet counts, keyset pagination, and title suggestions.
//!
//! Reads go to `search_documents`, one row per product derived from the
//! catalog by [`reindex`] inside every catalog write transaction, so a saved
//! product is searchable once its transaction commits. Responses are cached
//! in Redis under the store's search generation, which every reindex bumps
//! in the same transaction: a commit makes all older entries unreachable.

pub(crate) mod index;
pub(crate) mod query;
pub(crate) mod sql;

pub use index::{reindex, reindex_store, touch};
pub use query::{Cursor, Filters, SearchParams, Sort};
