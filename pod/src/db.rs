//! Postgres helpers shared by the pod's contexts (their errors:
//! [`crate::error`]).

/// Ids bound as one statement parameter: a single id as a scalar
/// (`column = $n`), several as an array (`column = ANY($n)`).
///
/// Postgres plans a prepared statement with an array parameter again on
/// every call: a plan for the array at hand always looks cheaper than the
/// generic plan, which must assume an array of unknown length. The scalar
/// form's generic plan costs the same as a custom one, so after five calls
/// a connection keeps it. Most writes and lookups are about one product or
/// one variant; before this, planning those statements took about a sixth
/// of the write path's database time (0.15 of a core at 200 writes/s, see
/// docs/benchmarks/moves.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ids {
    One(uuid::Uuid),
    Many(Vec<uuid::Uuid>),
}

impl Ids {
    pub fn new(ids: impl IntoIterator<Item = uuid::Uuid>) -> Self {
        let mut ids: Vec<uuid::Uuid> = ids.into_iter().collect();
        if ids.len() == 1 {
            Self::One(ids.remove(0))
        } else {
            Self::Many(ids)
        }
    }

    /// The condition that `column` is one of the ids, parameter `$n`.
    pub fn matches(&self, column: &str, n: usize) -> String {
        match self {
            Self::One(_) => format!("{column} = ${n}"),
            Self::Many(_) => format!("{column} = ANY(${n})"),
        }
    }

    /// The ids as a relation of one uuid column, parameter `$n`.
    pub fn rows(&self, n: usize) -> String {
        match self {
            Self::One(_) => format!("(VALUES (${n}::uuid))"),
            Self::Many(_) => format!("unnest(${n}::uuid[])"),
        }
    }

    /// Binds the ids as the next parameter of `query`.
    pub fn bind_to<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        match self {
            Self::One(id) => query.bind(*id),
            Self::Many(ids) => query.bind(ids.as_slice()),
        }
    }

    /// [`Ids::bind_to`] for a statement without rows.
    pub fn bind_to_statement<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        match self {
            Self::One(id) => query.bind(*id),
            Self::Many(ids) => query.bind(ids.as_slice()),
        }
    }
}

/// The advisory lock key pod migrators take (`"mercato-pod-migrations"`).
const MIGRATION_LOCK: i64 = 0x6d65_7263_706f_6431;

/// Applies the pod's migrations to `db`, one process at a time.
///
/// sqlx's own migration lock waits inside `pg_advisory_lock`. A migration
/// that builds an index `CONCURRENTLY` waits for every other session's
/// transaction to end, including that waiting lock call: two pods starting
/// on one database deadlock, and one of them fails. Here the waiter polls
/// with `pg_try_advisory_lock` and holds no transaction in between, so the
/// first migrator finishes and the second finds nothing left to apply.
pub async fn migrate(db: &sqlx::PgPool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut conn = db.acquire().await.context("connecting to migrate")?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .fetch_one(&mut *conn)
            .await
            .context("taking the migration lock")?;
        if locked {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "another process held the pod migration lock for 10 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut migrator = sqlx::migrate!("../migrations/pod");
    migrator.set_locking(false);
    let applied = migrator.run(&mut *conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    applied.context("applying pod migrations")?;
    unlocked.context("releasing the migration lock")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_id_is_a_scalar_parameter_and_more_an_array() {
        let a = uuid::Uuid::now_v7();
        let one = Ids::new([a]);
        assert_eq!(one, Ids::One(a));
        assert_eq!(one.matches("p.id", 2), "p.id = $2");
        assert_eq!(one.rows(2), "(VALUES ($2::uuid))");
        let many = Ids::new([a, a]);
        assert_eq!(many.matches("p.id", 2), "p.id = ANY($2)");
        assert_eq!(many.rows(3), "unnest($3::uuid[])");
        let none = Ids::new([]);
        assert_eq!(none, Ids::Many(vec![]));
    }
}
