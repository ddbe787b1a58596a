//! Drives a fleet job: one step at a time, each a store move it starts and
//! waits for, with the job's pause between two moves.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use mercato_tenants::JobId;

use super::{next, wrap_up, Job, JobStatus, Kind, Next, Outcome, Step};
use crate::moves::{self, sql as move_sql, Reason, Status as MoveStatus};
use crate::{stores, AppState};

/// How often the runner looks at a running move and at a cancel request
/// while it pauses between moves.
const POLL: Duration = Duration::from_millis(250);

/// Drives job `id` to its end in the background.
pub fn spawn(state: AppState, id: JobId) {
    tokio::spawn(async move {
        if !state.mover.claim(id) {
            return;
        }
        if let Err(e) = drive(&state, id).await {
            let error = format!("{e:#}");
            tracing::error!(job_id = %id, error, "fleet job stopped with an error");
            let _ = super::sql::finish(&state.db, id, JobStatus::Failed, Some(&error)).await;
        }
        state.mover.release(id);
    });
}

/// Picks up the job a previous process left running (at most one).
pub async fn resume_all(state: &AppState) -> anyhow::Result<()> {
    if let Some(job) = super::sql::running(&state.db).await? {
        tracing::info!(job_id = %job.id, "resuming a fleet job left running");
        spawn(state.clone(), job.id);
    }
    Ok(())
}

async fn drive(state: &AppState, id: JobId) -> anyhow::Result<()> {
    loop {
        let job = super::sql::get(&state.db, id)
            .await?
            .ok_or_else(|| anyhow!("job {id} not found"))?;
        if job.status != JobStatus::Running {
            return Ok(());
        }
        let pod_state = match job.pod_id {
            Some(pod) => super::sql::pod_state(&state.db, pod).await?,
            None => None,
        };
        match next(&job, pod_state) {
            Next::Stop(status, why) => {
                tracing::info!(job_id = %id, why, "fleet job stopped");
                super::sql::finish(&state.db, id, status, Some(&why)).await?;
                return Ok(());
            }
            Next::WrapUp => return settle(state, &job).await,
            Next::Run(index) => {
                let step = run_step(state, &job, index).await?;
                super::sql::record_step(&state.db, id, index, &step, true).await?;
                if index + 1 < job.steps.len() {
                    pause(state, id, Duration::from_millis(job.throttle_ms)).await?;
                }
            }
        }
    }
}

/// Runs step `index`: finds the move a previous run started for it, or
/// starts one, then waits for it to end. Returns the step as it ended.
async fn run_step(state: &AppState, job: &Job, index: usize) -> anyhow::Result<Step> {
    let mut step = job.steps[index].clone();
    let planned = &step.planned;
    let existing = move_sql::latest_of_job(&state.db, job.id, planned.store_id).await?;
    let mut mv = match existing {
        Some(m) => m,
        None => {
            if let Some(why) = stale(state, &step).await? {
                return Ok(skipped(step, why));
            }
            let reason = match job.kind {
                Kind::Drain => Reason::Drain,
                Kind::Rebalance => Reason::Rebalance,
            };
            match moves::start(
                state,
                planned.store_id,
                Some(planned.to_pod_id),
                reason,
                Some(job.id),
            )
            .await
            {
                Ok(m) => m,
                Err(e) => return Ok(skipped(step, e.into_api().message)),
            }
        }
    };
    step.move_id = Some(mv.id);
    step.outcome = Outcome::Moving;
    super::sql::record_step(&state.db, job.id, index, &step, false).await?;
    while mv.status == MoveStatus::Running {
        tokio::time::sleep(POLL).await;
        mv = move_sql::get(&state.db, mv.id)
            .await?
            .ok_or_else(|| anyhow!("move {} vanished", mv.id))?;
    }
    step.outcome = Outcome::of(mv.status);
    step.error = mv.error;
    tracing::info!(job_id = %job.id, move_id = %mv.id, store_id = %mv.store_id, outcome = ?step.outcome, "fleet job step finished");
    Ok(step)
}

/// Why a planned move no longer makes sense: the store is gone or is not
/// on the pod the plan found it on.
async fn stale(state: &AppState, step: &Step) -> anyhow::Result<Option<String>> {
    let planned = &step.planned;
    Ok(match stores::get(&state.db, planned.store_id).await? {
        None => Some("the store no longer exists".into()),
        Some(s) if s.pod_id != planned.from_pod_id => Some(format!(
            "the store is on pod {} now, not on pod {} where the plan found it",
            s.pod_id, planned.from_pod_id
        )),
        Some(_) => None,
    })
}

fn skipped(mut step: Step, why: String) -> Step {
    tracing::warn!(store_id = %step.planned.store_id, why, "fleet job step skipped");
    step.outcome = Outcome::Skipped;
    step.error = Some(why);
    step
}

/// Waits `throttle` between two moves, returning early when the job is
/// cancelled (the next look at the job stops it).
async fn pause(state: &AppState, id: JobId, throttle: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + throttle;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(left.min(POLL)).await;
        let cancelled = super::sql::get(&state.db, id)
            .await?
            .is_none_or(|j| j.cancel_requested || j.status != JobStatus::Running);
        if cancelled {
            return Ok(());
        }
    }
}

/// Ends a job whose steps have all run; a drain that emptied its pod marks
/// the pod drained in the same transaction.
async fn settle(state: &AppState, job: &Job) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let stores_left = match job.pod_id {
        Some(pod) => {
            // Lock the pod so no store is placed on it while we decide.
            sqlx::query("SELECT 1 FROM pods WHERE id = $1 FOR UPDATE")
                .bind(pod.as_uuid())
                .execute(&mut *tx)
                .await?;
            super::sql::stores_on(&mut *tx, pod).await?
        }
        None => 0,
    };
    let (status, error) = wrap_up(job, stores_left);
    if let (Some(pod), JobStatus::Completed) = (job.pod_id, status) {
        sqlx::query(
            "UPDATE pods SET state = 'drained', updated_at = now() WHERE id = $1 AND state = 'draining'",
        )
        .bind(pod.as_uuid())
        .execute(&mut *tx)
        .await?;
    }
    super::sql::finish(&mut *tx, job.id, status, error.as_deref()).await?;
    tx.commit().await?;
    tracing::info!(job_id = %job.id, kind = job.kind.as_str(), status = status.as_str(), error, "fleet job finished");
    Ok(())
}
