//! Following long-running work with live progress: a move until it ends,
//! a drain or rebalance job step by step.

use std::io::Write as _;
use std::time::Instant;

use mercato_tenants::MoveId;
use serde_json::{json, Value};

use super::api::{Applied, Drain, Job, JobStatus, Move, Outcome, Phase};
use super::client::{decode, is_transient};
use super::render::{self, Names};
use super::{
    print_json, Ctx, Measure, Reported, FLEET_POLL, MOVE_POLL, PLAIN_EVERY, UNREACHABLE_FOR,
};

/// Prints a finished move's report (or its JSON); a move that did not
/// complete fails the command.
pub(super) fn conclude(ctx: &Ctx, v: &Value, m: &Move, names: &Names) -> anyhow::Result<()> {
    let (line, ok) = render::report(m, names);
    if ctx.json {
        print_json(v)?;
    } else {
        println!("{line}");
    }
    if ok {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// Live progress of moves: a redrawn bar on a terminal, plain lines
/// otherwise, nothing with `--json`.
struct Progress {
    mode: Mode,
    drawn: bool,
    last: Option<(MoveId, Phase)>,
    last_line: String,
    last_at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Plain,
    Quiet,
}

impl Progress {
    fn new(ctx: &Ctx) -> Self {
        let mode = match (ctx.json, ctx.tty) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Bar,
            (false, false) => Mode::Plain,
        };
        Self {
            mode,
            drawn: false,
            last: None,
            last_line: String::new(),
            last_at: Instant::now(),
        }
    }

    fn update(&mut self, m: &Move) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\r{}\x1b[K", render::progress_bar(m));
                let _ = out.flush();
                self.drawn = true;
            }
            Mode::Plain => {
                let key = (m.id, m.phase);
                let line = render::progress_plain(m);
                let changed = self.last.as_ref() != Some(&key);
                if changed || (self.last_at.elapsed() >= PLAIN_EVERY && line != self.last_line) {
                    println!("{line}");
                    self.last = Some(key);
                    self.last_line = line;
                    self.last_at = Instant::now();
                }
            }
        }
    }

    /// Ends the redrawn line, so what follows starts on its own.
    fn finish(&mut self) {
        if self.drawn {
            println!();
            self.drawn = false;
        }
    }
}

/// Polls a move, shown first as `seen`, until it is no longer running; its
/// last JSON and state.
pub(super) async fn follow(ctx: &Ctx, seen: &Move) -> anyhow::Result<(Value, Move)> {
    let id = seen.id;
    let mut progress = Progress::new(ctx);
    progress.update(seen);
    tokio::time::sleep(MOVE_POLL).await;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        match ctx.client.get(&format!("/v1/moves/{id}"), &[]).await {
            Ok(v) => {
                unreachable_since = None;
                let m: Move = decode("move", v.clone())?;
                if !m.is_running() {
                    progress.update(&m);
                    progress.finish();
                    return Ok((v, m));
                }
                progress.update(&m);
            }
            Err(e) if is_transient(&e) => {
                let since = match unreachable_since {
                    Some(t) => t,
                    None => {
                        progress.finish();
                        eprintln!("warning: {e:#}; still trying");
                        *unreachable_since.insert(Instant::now())
                    }
                };
                if since.elapsed() > UNREACHABLE_FOR {
                    return Err(e.context(format!(
                        "the control plane stopped answering about move {id}"
                    )));
                }
            }
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        }
        tokio::time::sleep(MOVE_POLL).await;
    }
}

/// `pods drain`: asks for the drain, then follows its job until the pod is
/// drained.
pub(super) async fn drain(ctx: &Ctx, key: &str, throttle_ms: Option<u64>) -> anyhow::Result<()> {
    let (pod, pods) = ctx.pod(key).await?;
    let mut body = json!({});
    if let Some(t) = throttle_ms {
        body["throttle_ms"] = json!(t);
    }
    let (_, v) = ctx
        .client
        .post(&format!("/v1/pods/{}/drain", pod.id), &body)
        .await?;
    let drain: Drain = decode("drain", v.clone())?;
    let mut names = Names::with_pods(&pods);
    ctx.name_stores(&mut names, drain.moves.iter().map(|m| m.store_id))
        .await;
    if ctx.json {
        print_json(&v)?;
    } else {
        println!(
            "draining {}: {} to move",
            pod.name,
            plural(drain.moves.len(), "store")
        );
        for m in &drain.moves {
            println!(
                "  {} to {}",
                names.store(m.store_id),
                names.pod(m.to_pod_id)
            );
        }
    }
    let Some(job) = drain.job else {
        if !ctx.json {
            println!("{} drained", pod.name);
        }
        return Ok(());
    };
    let (job, tally) = follow_job(ctx, &job, &names).await?;
    if ctx.json {
        return if job.status == JobStatus::Completed {
            Ok(())
        } else {
            Err(Reported.into())
        };
    }
    if job.status == JobStatus::Completed {
        println!(
            "{} drained: {} moved",
            pod.name,
            plural(tally.completed, "store")
        );
        return Ok(());
    }
    anyhow::bail!(
        "the drain of {} ended {} ({}): {}",
        pod.name,
        job.status,
        tally,
        job.error.as_deref().unwrap_or("no error recorded")
    )
}

/// `rebalance apply`: the control plane plans and runs the moves as a job,
/// one at a time; this prints the plan and follows the job.
pub(super) async fn apply(
    ctx: &Ctx,
    measure: Option<Measure>,
    throttle_ms: Option<u64>,
) -> anyhow::Result<()> {
    let mut body = json!({});
    if let Some(m) = measure {
        body["measure"] = json!(m.as_str());
    }
    if let Some(t) = throttle_ms {
        body["throttle_ms"] = json!(t);
    }
    let (_, v) = ctx.client.post("/v1/rebalance/apply", &body).await?;
    let applied: Applied = decode("plan", v.clone())?;
    let names = ctx
        .names(applied.plan.moves.iter().map(|m| m.store_id))
        .await?;
    if ctx.json {
        print_json(&v)?;
    } else {
        print!("{}", render::plan(&applied.plan, &names));
    }
    let Some(job) = applied.job else {
        return Ok(());
    };
    let (job, tally) = follow_job(ctx, &job, &names).await?;
    if !ctx.json {
        println!("rebalance {}: {tally}", job.status);
        if let Some(e) = &job.error {
            println!("{e}");
        }
    }
    if job.status == JobStatus::Completed {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// `1 store`, `2 stores`.
fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// How a job's steps ended.
#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    rolled_back: usize,
    skipped: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} moved, {} rolled back, {} skipped",
            self.completed, self.rolled_back, self.skipped
        )
    }
}

/// Follows a drain or rebalance job to its end: each move announced, shown
/// live and reported, each skipped step with its reason. With `--json`,
/// prints the finished job.
async fn follow_job(ctx: &Ctx, job: &Job, names: &Names) -> anyhow::Result<(Job, Tally)> {
    let path = format!("/v1/jobs/{}", job.id);
    let total = job.steps.len();
    let mut tally = Tally::default();
    let mut reported = 0usize;
    let mut announced: Option<usize> = None;
    loop {
        let v = ctx.get_patiently(&path, &[]).await?;
        let job: Job = decode("job", v.clone())?;
        while reported < job.next_step.min(total) {
            let step = &job.steps[reported];
            let store = names.store(step.planned.store_id);
            match (step.outcome, step.move_id) {
                (Outcome::Skipped, _) | (_, None) => {
                    tally.skipped += 1;
                    if !ctx.json {
                        let why = step.error.as_deref().unwrap_or("no reason recorded");
                        println!("skipped {store}: {why}");
                    }
                }
                (_, Some(id)) => {
                    let m: Move = decode(
                        "move",
                        ctx.get_patiently(&format!("/v1/moves/{id}"), &[]).await?,
                    )?;
                    let (line, ok) = render::report(&m, names);
                    if ok {
                        tally.completed += 1;
                    } else {
                        tally.rolled_back += 1;
                    }
                    if !ctx.json {
                        println!("{line}");
                    }
                }
            }
            reported += 1;
        }
        if job.status != JobStatus::Running {
            if ctx.json {
                print_json(&v)?;
            }
            return Ok((job, tally));
        }
        let current = job
            .steps
            .get(job.next_step)
            .and_then(|s| s.move_id.map(|id| (s, id)));
        match current {
            Some((step, id)) if step.outcome == Outcome::Moving => {
                if announced != Some(job.next_step) && !ctx.json {
                    println!(
                        "moving {} from {} to {} ({}/{total}, move {id})",
                        names.store(step.planned.store_id),
                        names.pod(step.planned.from_pod_id),
                        names.pod(step.planned.to_pod_id),
                        job.next_step + 1,
                    );
                }
                announced = Some(job.next_step);
                let m: Move = decode(
                    "move",
                    ctx.get_patiently(&format!("/v1/moves/{id}"), &[]).await?,
                )?;
                if m.is_running() {
                    follow(ctx, &m).await?;
                }
                // The job records the step's end shortly after the move's.
                tokio::time::sleep(MOVE_POLL).await;
            }
            _ => tokio::time::sleep(FLEET_POLL).await,
        }
    }
}
