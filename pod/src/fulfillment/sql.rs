//! Every statement of the fulfillment context.

use sqlx::PgExecutor;

/// Statuses as the database knows them, for the test that checks the
/// trigger's table against [`super::state::allowed`].
pub async fn database_transitions<'e>(
    exec: impl PgExecutor<'e>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT from_status, to_status FROM shipment_transitions ORDER BY 1, 2")
        .fetch_all(exec)
        .await
}
