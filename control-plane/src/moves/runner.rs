//! Drives a move through its phases, and back when it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use mercato_tenants::{Handle, MoveId, PodId, RoutingChange, TenantState};
use tokio::time::{timeout_at, Instant};
use uuid::Uuid;

use super::compare::{verified_tables, BUCKETS};
use super::model::{self, on_restart, Move, Phase, Recovery, Status};
use super::pg::PodDb;
use super::replication_name;
use super::sql;
use crate::stores::{self, Store};
use crate::{routing, AppState};

/// Rows deleted per statement when cleaning a rolled-back copy.
const DELETE_BATCH: i64 = 5_000;

/// How often the copy looks whether a table is done, to start the next.
const COPY_POLL: Duration = Duration::from_millis(20);

/// How often the copy records its progress (and looks for an abort).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A pod as the mover needs it.
#[derive(Debug, Clone)]
pub struct PodEndpoint {
    pub id: PodId,
    pub name: String,
    pub url: String,
    pub database_url: Option<String>,
    pub state: String,
}

pub async fn pod_endpoint<'e>(
    db: impl sqlx::PgExecutor<'e>,
    id: PodId,
) -> sqlx::Result<Option<PodEndpoint>> {
    let row: Option<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT name, url, database_url, state FROM pods WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(name, url, database_url, state)| PodEndpoint {
        id,
        name,
        url,
        database_url,
        state,
    }))
}

/// Everything a running move works with.
struct Ctx {
    state: AppState,
    id: MoveId,
    store: Store,
    handle: Handle,
    source: PodEndpoint,
    target: PodEndpoint,
    src: PodDb,
    dst: PodDb,
    /// Tenant tables and their primary keys.
    tables: Vec<String>,
    keys: BTreeMap<String, Vec<String>>,
    name: String,
}

/// The `crash_after_fence` failpoint: the runner stops as a dead process
/// would, leaving the move as it is.
#[derive(Debug, thiserror::Error)]
#[error("failpoint crash_after_fence")]
struct Crashed;

/// Drives the move `id` to its end in the background. `restarted`: the
/// move was found running at start-up, so its recorded phase decides
/// between resuming and rolling back ([`on_restart`]).
pub fn spawn(state: AppState, id: MoveId, restarted: bool) {
    tokio::spawn(async move {
        if !state.mover.claim(id) {
            return;
        }
        let driven = drive(&state, id, restarted).await;
        if matches!(&driven, Err(e) if e.is::<Crashed>()) {
            tracing::warn!(move_id = %id, "failpoint: the runner stops after the fence");
            return;
        }
        if let Err(e) = driven {
            tracing::error!(move_id = %id, error = format!("{e:#}"), "move stopped with an error");
            let _ = sql::finish(
                &state.db,
                id,
                Status::Failed,
                Phase::RollingBack,
                Some(&format!("{e:#}")),
            )
            .await;
            state
                .mover
                .metrics
                .finished
                .with_label_values(&["failed"])
                .inc();
        }
        state.mover.release(id);
    });
}

/// Picks up the moves a previous process left running.
pub async fn resume_all(state: &AppState) -> anyhow::Result<()> {
    for id in sql::running_ids(&state.db).await? {
        tracing::info!(move_id = %id, "resuming a move left running");
        spawn(state.clone(), id, true);
    }
    Ok(())
}

async fn drive(state: &AppState, id: MoveId, restarted: bool) -> anyhow::Result<()> {
    let mv = sql::get(&state.db, id)
        .await?
        .ok_or_else(|| anyhow!("move {id} not found"))?;
    if mv.status != Status::Running {
        return Ok(());
    }
    let ctx = connect(state, &mv).await?;
    let recovery = if restarted {
        on_restart(mv.phase)
    } else {
        Recovery::Resume
    };
    let outcome = match recovery {
        Recovery::Resume => forward(&ctx, mv.phase).await,
        Recovery::RollBack => Err(anyhow!(
            "the control plane restarted while the store was frozen"
        )),
        Recovery::Finish => clean_up(&ctx).await,
    };
    let result = match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is::<Crashed>() => return Err(e),
        Err(e) => {
            let reason = format!("{e:#}");
            tracing::warn!(move_id = %id, store_id = %ctx.store.id, reason, "move rolling back");
            roll_back(&ctx, &reason).await
        }
    };
    ctx.src.close().await;
    ctx.dst.close().await;
    result
}

async fn connect(state: &AppState, mv: &Move) -> anyhow::Result<Ctx> {
    let store = stores::get(&state.db, mv.store_id)
        .await?
        .ok_or_else(|| anyhow!("store {} not found", mv.store_id))?;
    let handle = Handle::parse(&store.handle)?;
    let source = pod_endpoint(&state.db, mv.source_pod_id)
        .await?
        .ok_or_else(|| anyhow!("source pod not found"))?;
    let target = pod_endpoint(&state.db, mv.target_pod_id)
        .await?
        .ok_or_else(|| anyhow!("target pod not found"))?;
    let src = PodDb::connect(source.database_url.as_deref().unwrap_or_default())
        .await
        .context("source database")?;
    let dst = PodDb::connect(target.database_url.as_deref().unwrap_or_default())
        .await
        .context("target database")?;
    let tables = src.tenant_tables().await?;
    let keys = src.primary_keys(&tables).await?;
    Ok(Ctx {
        state: state.clone(),
        id: mv.id,
        store,
        handle,
        source,
        target,
        src,
        dst,
        tables,
        keys,
        name: replication_name(mv.id),
    })
}

impl Ctx {
    async fn phase(&self, phase: Phase) -> anyhow::Result<()> {
        sql::set_phase(&self.state.db, self.id, phase).await?;
        tracing::info!(move_id = %self.id, store_id = %self.store.id, phase = phase.as_str(), "move phase");
        Ok(())
    }

    async fn check_abort(&self) -> anyhow::Result<()> {
        if sql::abort_requested(&self.state.db, self.id).await? {
            bail!("aborted by an operator");
        }
        Ok(())
    }

    /// Hosts the store on `pod` in `state` (the pod's internal API), with
    /// its name as it is now: a rename during the move is not undone
    /// (`stores::details`).
    async fn host(&self, pod: &PodEndpoint, state: TenantState) -> anyhow::Result<()> {
        let name = stores::details::current_name(&self.state, self.store.id).await?;
        self.state
            .pods
            .host_store(
                &pod.url,
                self.store.id,
                &self.handle,
                &name,
                self.store.currency,
                state,
                None,
            )
            .await
            .with_context(|| format!("setting the store {} on {}", state, pod.name))?;
        Ok(())
    }

    /// Writes a marker on the source and waits for it on the target.
    async fn round_trip(&self, deadline: Instant) -> anyhow::Result<Duration> {
        let marker = Uuid::new_v4();
        let started = Instant::now();
        self.src.write_marker(self.store.id, marker).await?;
        self.wait_marker(marker, deadline).await?;
        Ok(started.elapsed())
    }

    async fn wait_marker(&self, marker: Uuid, deadline: Instant) -> anyhow::Result<()> {
        loop {
            if self.dst.has_marker(self.store.id, marker).await? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the target did not catch up with the source in time");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn forward(ctx: &Ctx, from: Phase) -> anyhow::Result<()> {
    let mut phase = from;
    loop {
        match phase {
            Phase::Preflight | Phase::Copying => {
                ctx.phase(Phase::Copying).await?;
                copy(ctx).await?;
                phase = Phase::Verifying;
            }
            Phase::Verifying => {
                ctx.phase(Phase::Verifying).await?;
                ctx.dst
                    .analyze(&ctx.tables)
                    .await
                    .context("refreshing the target's statistics")?;
                let deadline = Instant::now()
                    + Duration::from_millis(ctx.state.mover.settings.lag_deadline_ms);
                ctx.src
                    .start_capture(ctx.store.id, ctx.id, deadline)
                    .await
                    .context("starting the change capture on the source")?;
                verify_bulk(ctx).await?;
                phase = Phase::CatchingUp;
            }
            Phase::CatchingUp => {
                if !ctx.src.capturing(ctx.store.id, ctx.id).await? {
                    // Resumed without the capture the freeze relies on.
                    phase = Phase::Verifying;
                    continue;
                }
                ctx.phase(Phase::CatchingUp).await?;
                if ctx.state.mover.failpoint("wait_before_freeze") {
                    loop {
                        ctx.check_abort().await?;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                catch_up(ctx).await?;
                cut_over(ctx).await?;
                return clean_up(ctx).await;
            }
            Phase::Frozen
            | Phase::Fenced
            | Phase::CaughtUp
            | Phase::Verified
            | Phase::RollingBack => {
                bail!("interrupted during the cut-over")
            }
            Phase::Switched | Phase::CleaningUp | Phase::Done => return clean_up(ctx).await,
        }
    }
}

/// Publication, slot and subscription; waits for every table's initial copy.
async fn copy(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = &ctx.state.mover.settings;
    let deadline = Instant::now() + Duration::from_millis(settings.copy_timeout_ms);
    if ctx.dst.subscription_tables(&ctx.name).await?.is_empty() {
        ctx.host(&ctx.target, TenantState::Provisioning).await?;
        // Rows left from an earlier stay of the store on the target.
        ctx.dst
            .delete_store_rows(&ctx.tables, ctx.store.id, DELETE_BATCH)
            .await?;
    }
    // The publication grows as copies finish, in `copy_order`, keeping
    // `at_once` large copies running (`model::tables_to_add`); a refresh
    // makes the subscription take up what was added. Tables already
    // published (a resumed move) stay.
    let at_once = settings
        .copy_parallelism
        .clamp(1, ctx.dst.sync_workers().await?.max(1));
    let order = model::copy_order(&ctx.src.copy_costs(&ctx.tables).await?);
    let mut published = ctx.src.published_tables(&ctx.name).await?;
    if published.is_empty() {
        let first = model::tables_to_add(&order, &[], &[], at_once);
        ctx.src
            .publish(&ctx.name, &[], &first, ctx.store.id)
            .await?;
        published = first;
    }
    ctx.src.ensure_slot(&ctx.name).await?;
    ctx.dst
        .ensure_subscription(
            &ctx.name,
            ctx.source.database_url.as_deref().unwrap_or_default(),
            &ctx.name,
        )
        .await?;
    let mut reported: Option<Instant> = None;
    loop {
        let subscribed = ctx.dst.subscription_tables(&ctx.name).await?;
        let not_ready = subscribed.iter().filter(|t| !t.ready).count();
        let ready = (subscribed.len() - not_ready) as i64;
        // A table whose rows are all in frees its place for the next one
        // while its worker catches up.
        let copying: Vec<String> = subscribed
            .iter()
            .filter(|t| !t.copied)
            .map(|t| t.table.clone())
            .collect();
        if subscribed.len() < published.len() {
            ctx.dst.refresh_subscription(&ctx.name).await?;
        } else {
            let more = model::tables_to_add(&order, &published, &copying, at_once);
            if !more.is_empty() {
                ctx.src
                    .publish(&ctx.name, &published, &more, ctx.store.id)
                    .await?;
                published.extend(more);
                ctx.dst.refresh_subscription(&ctx.name).await?;
            } else if subscribed.len() == ctx.tables.len() && not_ready == 0 {
                ctx.dst
                    .merge_gin_pending(&ctx.tables)
                    .await
                    .context("merging the target's GIN pending lists")?;
                return Ok(());
            }
        }
        // The next copy starts as soon as a place is free, so the
        // subscription is polled often; progress is recorded less often.
        if reported.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            let lag = ctx.src.lag_bytes(&ctx.name).await?;
            sql::set_progress(&ctx.state.db, ctx.id, ready, None, None, lag).await?;
            ctx.check_abort().await?;
            reported = Some(Instant::now());
        }
        if Instant::now() >= deadline {
            let total = ctx.tables.len();
            bail!("the initial copy did not finish in time ({ready} of {total} tables)");
        }
        tokio::time::sleep(COPY_POLL).await;
    }
}

/// Compares the copy with the source, table by table and bucket by bucket,
/// while the store keeps selling. Each round writes a marker first and
/// compares once the target has it, so both sides are close in time; a
/// bucket that differs only because of writes in flight matches in a later
/// round. The change capture runs from before the first round: rows the
/// store changes from then on are checked again during the freeze.
async fn verify_bulk(ctx: &Ctx) -> anyhow::Result<()> {
    let mut pending: BTreeMap<String, BTreeSet<i64>> = verified_tables(&ctx.tables)
        .into_iter()
        .map(|t| (t, (0..BUCKETS).collect()))
        .collect();
    let rounds = ctx.state.mover.settings.verify_rounds.max(1);
    for _ in 0..rounds {
        ctx.check_abort().await?;
        let deadline =
            Instant::now() + Duration::from_millis(ctx.state.mover.settings.lag_deadline_ms);
        ctx.round_trip(deadline).await?;
        for (table, buckets) in pending.iter_mut() {
            let (s, d) = tokio::try_join!(
                ctx.src.buckets(table, ctx.store.id),
                ctx.dst.buckets(table, ctx.store.id)
            )?;
            buckets.retain(|b| s.get(b) != d.get(b));
        }
        pending.retain(|_, buckets| !buckets.is_empty());
        if pending.is_empty() {
            let verified = verified_tables(&ctx.tables);
            let (rows, bytes) = ctx.dst.size(&verified, ctx.store.id).await?;
            sql::set_progress(
                &ctx.state.db,
                ctx.id,
                ctx.tables.len() as i64,
                Some(rows),
                Some(bytes),
                ctx.src.lag_bytes(&ctx.name).await?,
            )
            .await?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tables: Vec<&str> = pending.keys().map(String::as_str).collect();
    bail!(
        "the copy still differs from the source after {rounds} rounds in: {}",
        tables.join(", ")
    )
}

/// Waits until a marker crosses within the catch-up threshold.
async fn catch_up(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = &ctx.state.mover.settings;
    let deadline = Instant::now() + Duration::from_millis(settings.lag_deadline_ms);
    loop {
        ctx.check_abort().await?;
        let took = ctx.round_trip(deadline).await?;
        let lag = ctx.src.lag_bytes(&ctx.name).await?;
        let ready = ctx.tables.len() as i64;
        sql::set_progress(&ctx.state.db, ctx.id, ready, None, None, lag).await?;
        if took <= Duration::from_millis(settings.catch_up_ms) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "replication lag did not converge within {} ms",
                settings.lag_deadline_ms
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Freeze, fence, catch up, verify, flip: the part with requests held,
/// bounded by `max_hold_ms`.
async fn cut_over(ctx: &Ctx) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + ctx.state.mover.max_hold();
    let held = |what: &'static str| move |_| anyhow!("the hold bound was reached while {what}");
    // 1. The router holds new requests.
    ctx.phase(Phase::Frozen).await?;
    set_routing(ctx, ctx.source.id, TenantState::Frozen).await?;
    // 2. The source refuses the store; in-flight writes finish first (the
    //    fence waits for their share locks), then the marker follows them.
    timeout_at(deadline, ctx.phase(Phase::Fenced))
        .await
        .map_err(held("fencing"))??;
    timeout_at(deadline, ctx.host(&ctx.source, TenantState::MovedOut))
        .await
        .map_err(held("fencing"))??;
    let marker = Uuid::new_v4();
    ctx.src.write_marker(ctx.store.id, marker).await?;
    if ctx.state.mover.failpoint("crash_after_fence") {
        return Err(Crashed.into());
    }
    // 3. Every write before the fence is on the target once the marker is.
    ctx.wait_marker(marker, deadline).await?;
    ctx.phase(Phase::CaughtUp).await?;
    // 4. Checksums of the rows changed since the bulk verification.
    let changed = timeout_at(deadline, verify_changes(ctx))
        .await
        .map_err(held("verifying"))??;
    ctx.phase(Phase::Verified).await?;
    // 5. The target starts from Postgres alone, then serves the store.
    timeout_at(deadline, async {
        ctx.state
            .pods
            .rebuild_store(&ctx.target.url, ctx.store.id)
            .await
            .context("rebuilding the target's Redis state")?;
        ctx.host(&ctx.target, TenantState::Active).await
    })
    .await
    .map_err(held("activating the target"))??;
    if Instant::now() >= deadline {
        bail!("the hold bound was reached before the switch");
    }
    // 6. The routing flip releases the held requests to the target.
    let pause_ms = started.elapsed().as_millis() as i64;
    let mut tx = ctx.state.db.begin().await?;
    let version = route_in(&mut tx, ctx, ctx.target.id, TenantState::Active).await?;
    sqlx::query(
        "UPDATE moves SET phase = 'switched', pause_ms = $2, updated_at = now() WHERE id = $1",
    )
    .bind(ctx.id.as_uuid())
    .bind(pause_ms)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE store_loads SET pod_id = $2 WHERE store_id = $1")
        .bind(ctx.store.id.as_uuid())
        .bind(ctx.target.id.as_uuid())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    ctx.state.routing_changed(version);
    let pause_ms = started.elapsed().as_millis() as i64;
    ctx.state.mover.metrics.pause_ms.observe(pause_ms as f64);
    tracing::info!(move_id = %ctx.id, store_id = %ctx.store.id, pause_ms, changed_rows = changed, "store switched to its new pod");
    Ok(())
}

/// Every row the store changed on the source since its capture started
/// (recorded by key, deleted rows included) is the same on the target: the
/// bulk verification covered the rest. Reads only those rows, so the work
/// grows with the writes, not with the store. Returns how many were checked.
async fn verify_changes(ctx: &Ctx) -> anyhow::Result<usize> {
    let changed = ctx.src.changed_keys(ctx.store.id).await?;
    let verified = verified_tables(&ctx.tables);
    let mut checked = 0;
    let mut checks = tokio::task::JoinSet::new();
    for (table, keys) in changed {
        if !verified.contains(&table) {
            continue;
        }
        let key = ctx
            .keys
            .get(&table)
            .cloned()
            .ok_or_else(|| anyhow!("table {table} has no primary key"))?;
        let count = keys.as_array().map_or(0, Vec::len);
        checked += count;
        let (src, dst, store) = (ctx.src.clone(), ctx.dst.clone(), ctx.store.id);
        checks.spawn(async move {
            let (source, target) = tokio::try_join!(
                src.rows_by_keys(&table, &key, store, &keys),
                dst.rows_by_keys(&table, &key, store, &keys)
            )?;
            if source != target {
                let (s, d) = tokio::try_join!(
                    src.row_texts(&table, &key, store, &keys),
                    dst.row_texts(&table, &key, store, &keys)
                )?;
                let first = s
                    .keys()
                    .chain(d.keys())
                    .find(|k| s.get(*k) != d.get(*k))
                    .cloned()
                    .unwrap_or_default();
                tracing::warn!(table, key = first, source = ?s.get(&first), target = ?d.get(&first), "a changed row differs");
                bail!(
                    "{table}: the {count} rows changed since verification differ between the source ({} found) and the target ({} found)",
                    source.rows,
                    target.rows
                );
            }
            Ok(())
        });
    }
    while let Some(done) = checks.join_next().await {
        done.context("a verification task failed")??;
    }
    Ok(checked)
}

/// Points the store at `pod` in `state` within `tx`: its `stores` row and
/// a routing version. The caller commits, then wakes the routers.
async fn route_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ctx: &Ctx,
    pod: PodId,
    state: TenantState,
) -> anyhow::Result<u64> {
    sqlx::query("UPDATE stores SET pod_id = $2, state = $3, updated_at = now() WHERE id = $1")
        .bind(ctx.store.id.as_uuid())
        .bind(pod.as_uuid())
        .bind(state.as_str())
        .execute(&mut **tx)
        .await?;
    let change = RoutingChange::Store {
        store: ctx.store.id,
        pod,
        state,
    };
    Ok(routing::record(tx, &[change]).await?)
}

/// [`route_in`] on its own (the freeze and the rollback), with the time of
/// the freeze.
async fn set_routing(ctx: &Ctx, pod: PodId, state: TenantState) -> anyhow::Result<()> {
    let mut tx = ctx.state.db.begin().await?;
    let version = route_in(&mut tx, ctx, pod, state).await?;
    if state == TenantState::Frozen {
        sqlx::query("UPDATE moves SET frozen_at = now() WHERE id = $1")
            .bind(ctx.id.as_uuid())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    ctx.state.routing_changed(version);
    Ok(())
}

/// After the switch: replication objects go, the source's rows are released
/// for purging, the move is complete.
async fn clean_up(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.phase(Phase::CleaningUp).await?;
    drop_replication(ctx).await?;
    ctx.state
        .pods
        .release_store(
            &ctx.source.url,
            ctx.store.id,
            ctx.state.mover.settings.purge_delay_secs,
        )
        .await
        .context("releasing the source's rows for purging")?;
    sql::finish(&ctx.state.db, ctx.id, Status::Completed, Phase::Done, None).await?;
    let metrics = &ctx.state.mover.metrics;
    metrics.finished.with_label_values(&["completed"]).inc();
    if let Some(mv) = sql::get(&ctx.state.db, ctx.id).await? {
        metrics.rows.inc_by(mv.rows_copied.max(0) as u64);
        metrics.bytes.inc_by(mv.bytes_copied.max(0) as u64);
        if let Some(ms) = mv.duration_ms {
            metrics.duration_secs.observe(ms as f64 / 1000.0);
        }
        tracing::info!(move_id = %ctx.id, store_id = %ctx.store.id, pause_ms = ?mv.pause_ms, rows = mv.rows_copied, duration_ms = ?mv.duration_ms, "move completed");
    }
    Ok(())
}

async fn drop_replication(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.dst.drop_subscription(&ctx.name).await?;
    ctx.src.drop_slot(&ctx.name).await?;
    ctx.src.drop_publication(&ctx.name).await?;
    ctx.src.stop_capture(ctx.store.id).await?;
    Ok(())
}

/// Back to the source: it serves again first, then the routing releases
/// held requests to it, then replication and the partial copy go.
async fn roll_back(ctx: &Ctx, reason: &str) -> anyhow::Result<()> {
    sql::set_error(&ctx.state.db, ctx.id, reason).await?;
    ctx.phase(Phase::RollingBack).await?;
    ctx.host(&ctx.source, TenantState::Active).await?;
    let current = stores::get(&ctx.state.db, ctx.store.id)
        .await?
        .ok_or_else(|| anyhow!("store vanished"))?;
    if current.pod_id != ctx.source.id || current.state != TenantState::Active {
        set_routing(ctx, ctx.source.id, TenantState::Active).await?;
    }
    drop_replication(ctx).await?;
    ctx.dst
        .delete_store_rows(&ctx.tables, ctx.store.id, DELETE_BATCH)
        .await?;
    ctx.host(&ctx.target, TenantState::Provisioning).await?;
    ctx.state
        .pods
        .forget_store(&ctx.target.url, ctx.store.id)
        .await
        .context("removing the store from the target")?;
    sql::finish(
        &ctx.state.db,
        ctx.id,
        Status::RolledBack,
        Phase::Done,
        Some(reason),
    )
    .await?;
    ctx.state
        .mover
        .metrics
        .finished
        .with_label_values(&["rolled_back"])
        .inc();
    tracing::info!(move_id = %ctx.id, store_id = %ctx.store.id, reason, "move rolled back");
    Ok(())
}
