//! SQL of search. Reads here: resolving the text of a query, a page of
//! hits, facet counts, suggestions; every read filters on store_id and on
//! active products, which is what the partial indexes cover. Writes in
//! [`index`]: keeping `search_documents`, the lexicon and the search
//! generation in step with the catalog.

pub(crate) mod index;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mercato_tenants::{ProductId, StoreId};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::query::{correct, rating_key_floor, Constraint, Cursor, SearchParams, Sort};

/// How the words of `q` are matched.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMatch {
    /// No words: every active product.
    All,
    /// Full text on these words (see [`tsquery_sql`]).
    FullText(Vec<String>),
    /// Nothing matched even after spelling correction: trigram word
    /// similarity against title, vendor, tags and SKUs.
    Fuzzy(String),
}

/// A positional-argument SQL builder: values are always bound, never
/// spliced.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
    /// Plan for the bound values every time (see [`Sql::fetch_all`]).
    custom_plan: bool,
}

enum Arg {
    Uuid(Uuid),
    Text(String),
    Texts(Vec<String>),
    I64(i64),
    F32(f32),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Sql {
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Statements matching words run unnamed, so Postgres plans them for
    /// the bound values every time: the generic plan a named statement
    /// gets after five runs builds the tsquery from its text for every
    /// matching row, costing more than the planning it saves. The others
    /// keep their cached plans.
    async fn fetch_all(self, db: &PgPool) -> Result<Vec<PgRow>, sqlx::Error> {
        let mut q = sqlx::query(&self.text).persistent(!self.custom_plan);
        for arg in self.args {
            q = match arg {
                Arg::Uuid(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Texts(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::F32(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
            };
        }
        q.fetch_all(db).await
    }
}

/// The tsquery of `words`: all words, the last one also as a prefix (the
/// shopper may still be typing), stemmed (english) or not (simple).
fn tsquery_sql(words: &[String], sql: &mut Sql) -> Option<String> {
    let (last, rest) = words.split_last()?;
    let last = sql.bind(Arg::Text(format!("{last}:*")));
    let mut expr = format!("(to_tsquery('english', {last}) || to_tsquery('simple', {last}))");
    if !rest.is_empty() {
        let rest = sql.bind(Arg::Text(rest.join(" & ")));
        expr = format!("(to_tsquery('english', {rest}) && {expr})");
    }
    Some(expr)
}

/// Words of `words` the store's lexicon does not know, with their closest
/// known spelling. The last word counts as known if it starts a term.
async fn corrections(
    db: &PgPool,
    store: StoreId,
    words: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::with_capacity(words.len());
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL pg_trgm.similarity_threshold = 0.15")
        .execute(&mut *tx)
        .await?;
    for (i, word) in words.iter().enumerate() {
        let is_last = i + 1 == words.len();
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM search_terms WHERE store_id = $1
                 AND (term = $2 OR ($3 AND term LIKE $4)))",
        )
        .bind(store.as_uuid())
        .bind(word)
        .bind(is_last)
        .bind(format!("{}%", mercato_tenants::text::like_escape(word)))
        .fetch_one(&mut *tx)
        .await?;
        if known {
            out.push(word.clone());
            continue;
        }
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT term FROM search_terms WHERE store_id = $1 AND term % $2
              ORDER BY similarity(term, $2) DESC, term LIMIT 200",
        )
        .bind(store.as_uuid())
        .bind(word)
        .fetch_all(&mut *tx)
        .await?;
        out.push(correct(word, &candidates).unwrap_or_else(|| word.clone()));
    }
    tx.commit().await?;
    Ok(out)
}

/// A search with words: full text; else full text with misspelled words
/// corrected (the corrected words are returned); else trigram similarity.
/// Each attempt is the whole search statement, which also says whether the
/// words matched any active product at all (filters aside): when they do,
/// no probe was spent finding that out.
pub async fn search_words(
    db: &PgPool,
    store: StoreId,
    params: &SearchParams,
) -> Result<(TextResults, Option<Vec<String>>), sqlx::Error> {
    let words = &params.words;
    let found = text_search(db, store, &TextMatch::FullText(words.clone()), params).await?;
    if found.matched > 0 {
        return Ok((found, None));
    }
    let corrected = corrections(db, store, words).await?;
    if corrected != *words {
        let found = text_search(db, store, &TextMatch::FullText(corrected.clone()), params).await?;
        if found.matched > 0 {
            return Ok((found, Some(corrected)));
        }
    }
    let found = text_search(db, store, &TextMatch::Fuzzy(words.join(" ")), params).await?;
    Ok((found, None))
}

/// The text condition on `d` and its relevance score, if any.
fn text_sql(text: &TextMatch, sql: &mut Sql) -> (String, String) {
    sql.custom_plan = !matches!(text, TextMatch::All);
    match text {
        TextMatch::All => ("true".into(), "0::real".into()),
        TextMatch::FullText(words) => match tsquery_sql(words, sql) {
            Some(q) => (
                format!("d.document @@ {q}"),
                format!("ts_rank(d.document, {q})"),
            ),
            None => ("false".into(), "0::real".into()),
        },
        TextMatch::Fuzzy(phrase) => {
            let p = sql.bind(Arg::Text(phrase.clone()));
            (
                format!("{p} <% d.fuzzy"),
                format!("word_similarity({p}, d.fuzzy)"),
            )
        }
    }
}

/// The condition that a document passes one filter constraint.
fn constraint_sql(c: &Constraint, sql: &mut Sql) -> String {
    match c {
        Constraint::AnyToken { tokens, .. } => {
            format!(
                "d.facets && {}::text[]",
                sql.bind(Arg::Texts(tokens.clone()))
            )
        }
        Constraint::Price { min, max } => {
            let mut parts = Vec::new();
            if let Some(min) = min {
                parts.push(format!("d.price_min >= {}", sql.bind(Arg::I64(*min))));
            }
            if let Some(max) = max {
                parts.push(format!("d.price_min <= {}", sql.bind(Arg::I64(*max))));
            }
            format!("({})", parts.join(" AND "))
        }
        Constraint::InStock(b) => format!("d.in_stock = {}", sql.bind(Arg::Bool(*b))),
        Constraint::MinRating(stars) => format!(
            "d.rating_key >= {}",
            sql.bind(Arg::I64(rating_key_floor(*stars)))
        ),
    }
}

/// One product in a page of results.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: ProductId,
    pub title: String,
    pub vendor: String,
    pub product_type: String,
    pub price_min: i64,
    pub price_max: i64,
    pub in_stock: bool,
    /// The average of its published ratings in hundredths (0 without).
    pub rating_centi: i64,
    pub rating_count: i64,
}

/// The sort key of a page: its SQL over the columns of `t` (a document or
/// a matched row), and whether it descends.
fn sort_key(sort: Sort, t: &str, rank: &str) -> (String, bool) {
    match sort {
        Sort::Relevance => (rank.to_owned(), true),
        Sort::PriceAsc => (format!("{t}.price_min"), false),
        Sort::PriceDesc => (format!("{t}.price_min"), true),
        Sort::Newest => (format!("{t}.created_at"), true),
        Sort::BestSelling => (format!("{t}.units_sold"), true),
        Sort::Rating => (format!("{t}.rating_key"), true),
    }
}

/// The keyset condition of a page after `after`, on sort key `key` of `t`.
fn after_sql(
    params: &SearchParams,
    key: &str,
    desc: bool,
    t: &str,
    sql: &mut Sql,
) -> Result<Option<String>, sqlx::Error> {
    let Some(after) = &params.after else {
        return Ok(None);
    };
    let k = match params.sort {
        Sort::Relevance => sql.bind(Arg::F32(after.rank_of())),
        Sort::Newest => {
            sql.bind(Arg::Time(after.time_of().ok_or_else(|| {
                sqlx::Error::Protocol("cursor time out of range".into())
            })?))
        }
        _ => sql.bind(Arg::I64(after.key)),
    };
    let id = sql.bind(Arg::Uuid(after.id.as_uuid()));
    let op = if desc { "<" } else { ">" };
    Ok(Some(format!("({key}, {t}.product_id) {op} ({k}, {id})")))
}

/// Reads the page rows of `rows` (in page order): the hits and the cursor
/// of the next page.
fn hits_of(
    rows: &[&PgRow],
    params: &SearchParams,
) -> Result<(Vec<Hit>, Option<Cursor>), sqlx::Error> {
    let mut hits = Vec::with_capacity(rows.len());
    let mut last = None;
    for (i, row) in rows.iter().enumerate() {
        if i == params.limit as usize {
            break;
        }
        let id = ProductId::from_uuid(row.try_get("product_id")?);
        let price_min: i64 = row.try_get("price_min")?;
        let key = match params.sort {
            Sort::Relevance => Cursor::rank(row.try_get::<f32, _>("rank")?),
            Sort::PriceAsc | Sort::PriceDesc => price_min,
            Sort::Newest => Cursor::time(row.try_get("created_at")?),
            Sort::BestSelling => row.try_get("units_sold")?,
            Sort::Rating => row.try_get("rating_key")?,
        };
        last = Some(Cursor {
            sort: params.sort,
            key,
            id,
        });
        hits.push(Hit {
            id,
            title: row.try_get("title")?,
            vendor: row.try_get("vendor")?,
            product_type: row.try_get("product_type")?,
            price_min,
            price_max: row.try_get("price_max")?,
            in_stock: row.try_get("in_stock")?,
            rating_centi: i64::from(row.try_get::<i32, _>("rating_centi")?),
            rating_count: row.try_get("rating_count")?,
        });
    }
    let next = if rows.len() > params.limit as usize {
        last
    } else {
        None
    };
    Ok((hits, next))
}

/// A page of hits, and the cursor of the next page.
pub async fn page(
    db: &PgPool,
    store: StoreId,
    text: &TextMatch,
    params: &SearchParams,
) -> Result<(Vec<Hit>, Option<Cursor>), sqlx::Error> {
    let mut sql = Sql::default();
    let s = sql.bind(Arg::Uuid(store.as_uuid()));
    let (cond, rank) = text_sql(text, &mut sql);
    let mut wheres = vec![
        format!("d.store_id = {s}"),
        "d.status = 'active'".to_owned(),
        cond,
    ];
    for c in params.filters.constraints() {
        wheres.push(constraint_sql(&c, &mut sql));
    }
    let (key, desc) = sort_key(params.sort, "d", &rank);
    if let Some(after) = after_sql(params, &key, desc, "d", &mut sql)? {
        wheres.push(after);
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let limit = sql.bind(Arg::I64(i64::from(params.limit) + 1));
    sql.push(&format!(
        "SELECT d.product_id, d.title, d.vendor, d.product_type, d.price_min, d.price_max,
                d.in_stock, d.units_sold, d.created_at, d.rating_key, d.rating_centi,
                d.rating_count, ({rank})::real AS rank
           FROM search_documents d
          WHERE {}
          ORDER BY {key} {dir}, d.product_id {dir}
          LIMIT {limit}",
        wheres.join(" AND ")
    ));
    let rows = sql.fetch_all(db).await?;
    let rows: Vec<&PgRow> = rows.iter().collect();
    hits_of(&rows, params)
}

/// A page and the counts of a search with words, in one statement: the
/// text matches are read once (id, sort keys, facet tokens, how many
/// filters each fails) and both the page and the disjunctive counts are
/// derived from that set; only the page's documents are read again, for
/// their titles.
pub async fn text_search(
    db: &PgPool,
    store: StoreId,
    text: &TextMatch,
    params: &SearchParams,
) -> Result<TextResults, sqlx::Error> {
    let constraints = params.filters.constraints();
    let mut sql = Sql::default();
    let s = sql.bind(Arg::Uuid(store.as_uuid()));
    let (cond, rank) = text_sql(text, &mut sql);
    let rank = if params.sort == Sort::Relevance {
        rank
    } else {
        "0".to_owned()
    };
    let (nfail, failp) = fail_sql(&constraints, &mut sql);
    let (key, desc) = sort_key(params.sort, "m", "m.rank");
    let after = after_sql(params, &key, desc, "m", &mut sql)?
        .map(|a| format!("AND {a}"))
        .unwrap_or_default();
    let dir = if desc { "DESC" } else { "ASC" };
    let limit = sql.bind(Arg::I64(i64::from(params.limit) + 1));
    sql.push(&format!(
        "WITH m AS MATERIALIZED (
             SELECT d.product_id, ({rank})::real AS rank, d.price_min, d.created_at, d.units_sold,
                    d.rating_key, d.tokens,
                    {nfail} AS nfail, {failp} AS failp
               FROM search_documents d
              WHERE d.store_id = {s} AND d.status = 'active' AND {cond}
         ),
         p AS (
             SELECT m.product_id, m.rank,
                    row_number() OVER (ORDER BY {key} {dir}, m.product_id {dir}) AS ord
               FROM m WHERE m.nfail = 0 {after}
              ORDER BY {key} {dir}, m.product_id {dir}
              LIMIT {limit}
         ),
         c AS (
             SELECT x.t, count(*) AS n
               FROM (SELECT unnest(m.tokens) AS t, m.nfail, m.failp FROM m WHERE m.nfail <= 1) x
              WHERE x.nfail = 0 OR starts_with(x.t, x.failp)
              GROUP BY x.t
         )
         SELECT p.ord, d.product_id, d.title, d.vendor, d.product_type, d.price_min,
                d.price_max, d.in_stock, d.units_sold, d.created_at, d.rating_key,
                d.rating_centi, d.rating_count, p.rank,
                NULL::text AS value, NULL::bigint AS n
           FROM p JOIN search_documents d ON d.store_id = {s} AND d.product_id = p.product_id
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, c.t, c.n
           FROM c
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, '~m', count(*)
           FROM m"
    ));
    let rows = sql.fetch_all(db).await?;
    let mut page = Vec::new();
    let mut tokens = Vec::new();
    let mut matched = 0;
    for row in &rows {
        match row.try_get::<Option<i64>, _>("ord")? {
            Some(ord) => page.push((ord, row)),
            None => {
                let (value, n): (String, i64) = (row.try_get("value")?, row.try_get("n")?);
                if value == "~m" {
                    matched = n;
                } else {
                    tokens.push((value, n));
                }
            }
        }
    }
    page.sort_by_key(|(ord, _)| *ord);
    let page: Vec<&PgRow> = page.into_iter().map(|(_, r)| r).collect();
    let (hits, next) = hits_of(&page, params)?;
    Ok(TextResults {
        hits,
        next,
        counts: Counts::from_tokens(tokens),
        matched,
    })
}

/// What [`text_search`] found.
pub struct TextResults {
    pub hits: Vec<Hit>,
    pub next: Option<Cursor>,
    pub counts: Counts,
    /// Active products matching the words, whatever the filters.
    pub matched: i64,
}

/// Per document, how many filters it fails and the token prefix of the
/// one it fails when it fails exactly one.
fn fail_sql(constraints: &[Constraint], sql: &mut Sql) -> (String, String) {
    let mut fails = Vec::new();
    let mut prefixes = Vec::new();
    for c in constraints {
        let pass = constraint_sql(c, sql);
        let p = sql.bind(Arg::Text(c.prefix()));
        fails.push(format!("(NOT {pass})::int"));
        prefixes.push(format!("WHEN NOT {pass} THEN {p}"));
    }
    let nfail = if fails.is_empty() {
        "0".to_owned()
    } else {
        fails.join(" + ")
    };
    let failp = if prefixes.is_empty() {
        "NULL::text".to_owned()
    } else {
        format!("CASE {} END", prefixes.join(" "))
    };
    (nfail, failp)
}

/// Facet counts and the total. A document counts towards the results (and
/// every facet) if it passes all filters; towards one facet group if it
/// fails only that group's own filter (disjunctive faceting: choosing
/// `vendor=A` still shows how many products vendor B has).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub total: i64,
    /// Facet token -> count.
    pub tokens: BTreeMap<String, i64>,
    /// Price bucket index (0-based) -> count.
    pub price: BTreeMap<usize, i64>,
    pub in_stock: i64,
    pub out_of_stock: i64,
}

impl Counts {
    /// Sorts `(token, count)` rows into the total, price buckets, stock
    /// and facet tokens.
    fn from_tokens(rows: Vec<(String, i64)>) -> Self {
        let mut out = Counts::default();
        for (value, n) in rows {
            if value == "~t" {
                out.total = n;
            } else if let Some(i) = value.strip_prefix("~p:") {
                if let Ok(i) = i.parse::<usize>() {
                    out.price.insert(i, n);
                }
            } else if value == "~s:true" {
                out.in_stock = n;
            } else if value == "~s:false" {
                out.out_of_stock = n;
            } else {
                out.tokens.insert(value, n);
            }
        }
        out
    }
}

/// Facet counts and the total of a browse (no words).
pub async fn browse_counts(
    db: &PgPool,
    store: StoreId,
    params: &SearchParams,
) -> Result<Counts, sqlx::Error> {
    let mut constraints = params.filters.constraints();
    drop_noop_price(db, store, &mut constraints).await?;
    let rows = browse_counts_sql(store, &constraints).fetch_all(db).await?;
    let rows = rows
        .iter()
        .map(|row| Ok((row.try_get("value")?, row.try_get("n")?)))
        .collect::<Result<Vec<(String, i64)>, sqlx::Error>>()?;
    Ok(Counts::from_tokens(rows))
}

/// Removes a price constraint that every active product of the store
/// passes (one index-only probe of the price index): counts then come
/// from the precomputed table more often, and are the same.
async fn drop_noop_price(
    db: &PgPool,
    store: StoreId,
    constraints: &mut Vec<Constraint>,
) -> Result<(), sqlx::Error> {
    let Some(i) = constraints
        .iter()
        .position(|c| matches!(c, Constraint::Price { .. }))
    else {
        return Ok(());
    };
    let (lo, hi): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT min(price_min), max(price_min) FROM search_documents
          WHERE store_id = $1 AND status = 'active'",
    )
    .bind(store.as_uuid())
    .fetch_one(db)
    .await?;
    if constraints[i].passes_all(lo, hi) {
        constraints.remove(i);
    }
    Ok(())
}

/// Counts without words, one branch per facet group with a filter and one
/// for the rest, so no branch reads more than the products passing the
/// filters it applies: a group's own counts apply the other filters only,
/// and everything else counts over the products passing every filter. A
/// branch applying no filter reads `search_facet_counts`; one applying a
/// single vendor, type, tag, collection or category reads
/// `search_facet_pairs`; only the others read documents.
fn browse_counts_sql(store: StoreId, constraints: &[Constraint]) -> Sql {
    let mut sql = Sql::default();
    let s = sql.bind(Arg::Uuid(store.as_uuid()));
    // `tokens` is a condition on the column named by its argument.
    let branch =
        |sql: &mut Sql, filters: &[&Constraint], tokens: &dyn Fn(&str) -> String| match filters {
            [] => format!(
                "SELECT token AS value, n FROM search_facet_counts
                  WHERE store_id = {s} AND n > 0 AND {}",
                tokens("token")
            ),
            [c] if c.pair_token().is_some() => {
                let f = sql.bind(Arg::Text(c.pair_token().unwrap_or_default().to_owned()));
                format!(
                    "SELECT token AS value, n FROM search_facet_pairs
                      WHERE store_id = {s} AND filter = {f} AND n > 0 AND {}",
                    tokens("token")
                )
            }
            _ => {
                let mut wheres = vec![
                    format!("d.store_id = {s}"),
                    "d.status = 'active'".to_owned(),
                ];
                for c in filters {
                    wheres.push(constraint_sql(c, sql));
                }
                format!(
                    "SELECT t AS value, count(*) AS n
                       FROM search_documents d,
                            unnest(d.tokens) t
                      WHERE {} AND {}
                      GROUP BY t",
                    wheres.join(" AND "),
                    tokens("t")
                )
            }
        };
    if constraints.is_empty() {
        let q = branch(&mut sql, &[], &|_| "true".to_owned());
        sql.push(&q);
        return sql;
    }
    let mut branches = Vec::new();
    let all: Vec<&Constraint> = constraints.iter().collect();
    let own: Vec<String> = constraints
        .iter()
        .map(|c| sql.bind(Arg::Text(c.prefix())))
        .collect();
    let rest = |col: &str| -> String {
        let tests: Vec<String> = own
            .iter()
            .map(|p| format!("starts_with({col}, {p})"))
            .collect();
        format!("NOT ({})", tests.join(" OR "))
    };
    branches.push(branch(&mut sql, &all, &rest));
    for (i, p) in own.iter().enumerate() {
        let others: Vec<&Constraint> = all
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| *c)
            .collect();
        let mine = |col: &str| format!("starts_with({col}, {p})");
        branches.push(branch(&mut sql, &others, &mine));
    }
    sql.push(&format!(
        "SELECT value, sum(n)::bigint AS n FROM ({}) b GROUP BY value",
        branches.join(" UNION ALL ")
    ));
    sql
}

/// Titles of collections and names of categories, for facet labels.
pub async fn labels(
    db: &PgPool,
    store: StoreId,
    collections: &[Uuid],
    categories: &[Uuid],
) -> Result<BTreeMap<Uuid, String>, sqlx::Error> {
    if collections.is_empty() && categories.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, title FROM collections WHERE store_id = $1 AND id = ANY($2)
         UNION ALL
         SELECT id, name FROM categories WHERE store_id = $1 AND id = ANY($3)",
    )
    .bind(store.as_uuid())
    .bind(collections)
    .bind(categories)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Up to 10 active products whose title contains `q` or a word like it:
/// titles starting with `q` first, then by word similarity, then sales.
pub async fn suggest(
    db: &PgPool,
    store: StoreId,
    q: &str,
) -> Result<Vec<(ProductId, String)>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT product_id, title FROM search_documents
          WHERE store_id = $1 AND status = 'active'
            AND (lower(title) LIKE $2 OR $3 <% lower(title))
          ORDER BY lower(title) LIKE $4 DESC, word_similarity($3, lower(title)) DESC,
                   units_sold DESC, product_id
          LIMIT 10",
    )
    .bind(store.as_uuid())
    .bind(format!("%{}%", mercato_tenants::text::like_escape(q)))
    .bind(q)
    .bind(format!("{}%", mercato_tenants::text::like_escape(q)))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title)| (ProductId::from_uuid(id), title))
        .collect())
}

/// The store's search generation: bumped by every reindex.
pub async fn generation(db: &PgPool, store: StoreId) -> Result<i64, sqlx::Error> {
    let g: Option<i64> =
        sqlx::query_scalar("SELECT generation FROM search_generations WHERE store_id = $1")
            .bind(store.as_uuid())
            .fetch_optional(db)
            .await?;
    Ok(g.unwrap_or(0))
}
