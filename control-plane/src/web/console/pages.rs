//! The console's pages, each over the same functions as the operator API
//! (there is no second write path):
//!
//! - `GET /console`: the pods ([`pods::list_pods`], as `GET /v1/pods`),
//!   their load against capacity, a "Drain…" button per active pod;
//! - `GET /console/stores?q=`: the store search ([`stores::search`]);
//! - `GET /console/stores/{id}`: a store, its moves, and the form that
//!   moves it (`POST .../move`: [`moves::start`], as `POST /v1/moves`);
//! - `GET /console/moves/{id}`: a move watched live, and its abort
//!   (`POST .../abort`: [`moves::abort_move`]);
//! - `GET /console/jobs`: drains, rebalances and recent moves, and the
//!   rebalance planner: `GET /console/rebalance?measure=`
//!   ([`jobs::current_plan`], as `GET /v1/rebalance/plan`), applied by
//!   `POST /console/rebalance` ([`jobs::apply_rebalance`]);
//! - `GET /console/pods/{id}/drain`: the drain's plan ([`jobs::plan_drain`]),
//!   started by `POST` ([`jobs::start_drain`], as `POST /v1/pods/{id}/drain`);
//! - `GET /console/jobs/{id}`: a job and its steps, live, and its cancel
//!   (`POST .../cancel`: [`jobs::cancel_job`]).
//!
//! A refusal of a form (a `4xx`, or a pod or placement that cannot serve
//! it) shows the page again with the reason; a live page (a move, a job)
//! marks its changing part `data-live`, which `platform.js` fetches again
//! every second while it runs.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use chrono::Utc;
use mercato_tenants::forms::{field, see_other, sentence, urlencode};
use mercato_tenants::http::ApiQuery;
use mercato_tenants::operator::jobs::{Job, JobStatus, Kind, Outcome, Step};
use mercato_tenants::operator::moves::{Move, Phase, Reason};
use mercato_tenants::operator::rebalance::{Measure, Plan, PlannedMove};
use mercato_tenants::operator::{Pod, Store};
use mercato_tenants::{ApiError, ErrorCode, JobId, MoveId, PodId, PodState, StoreId, TenantState};
use minijinja::{context, Value};
use serde::Serialize;

use super::figures::*;
use super::{frame, sign_in_first, MaybeOperator, OperatorSession};
use crate::error::ControlError;
use crate::web::{html, page, render};
use crate::{jobs, moves, pods, stores, AppState};

/// Stores a search shows at most.
const STORES_SHOWN: i64 = 50;
/// Moves the jobs page and a store's page show.
const MOVES_SHOWN: i64 = 50;
const STORE_MOVES_SHOWN: i64 = 20;
/// Jobs the jobs page shows.
const JOBS_SHOWN: i64 = 20;
/// Longest search text taken.
const MAX_QUERY: usize = 200;

/// The console's pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(pods_page))
        .route("/console/stores", get(stores_page))
        .route("/console/stores/{id}", get(store_page))
        .route("/console/stores/{id}/move", post(move_store))
        .route("/console/moves/{id}", get(move_page))
        .route("/console/moves/{id}/abort", post(abort_move))
        .route("/console/jobs", get(jobs_page))
        .route("/console/jobs/{id}", get(job_page))
        .route("/console/jobs/{id}/cancel", post(cancel_job))
        .route(
            "/console/rebalance",
            get(rebalance_page).post(apply_rebalance),
        )
        .route(
            "/console/pods/{id}/drain",
            get(drain_page).post(start_drain),
        )
}

// ---------------------------------------------------------------------
// What the templates show.

/// A load against a capacity: the bar's width and its text equivalent.
#[derive(Serialize)]
struct Meter {
    percent: i64,
    high: bool,
    text: String,
}

fn meter(used: i64, capacity: i64, text: String) -> Meter {
    Meter {
        percent: percent(used, capacity),
        high: is_high(used, capacity),
        text,
    }
}

#[derive(Serialize)]
struct PodView {
    #[serde(flatten)]
    pod: Pod,
    stores_meter: Meter,
    bytes_meter: Meter,
    orders_meter: Meter,
    requests: String,
    active: bool,
}

fn pod_view(pod: Pod) -> PodView {
    PodView {
        stores_meter: meter(
            pod.stores,
            i64::from(pod.capacity),
            format!(
                "{} of {} stores",
                count(pod.stores),
                count(i64::from(pod.capacity))
            ),
        ),
        bytes_meter: meter(
            pod.bytes,
            pod.capacity_bytes,
            format!("{} of {}", bytes(pod.bytes), bytes(pod.capacity_bytes)),
        ),
        orders_meter: meter(
            pod.orders_last_hour,
            pod.capacity_orders_per_hour,
            format!(
                "{} of {} orders an hour",
                count(pod.orders_last_hour),
                count(pod.capacity_orders_per_hour)
            ),
        ),
        requests: count(pod.requests_per_minute),
        active: pod.state == PodState::Active,
        pod,
    }
}

/// The fleet's pods by id, to name them.
struct Fleet(Vec<Pod>);

impl Fleet {
    async fn read(state: &AppState) -> Result<Self, ControlError> {
        Ok(Self(pods::list_pods(&state.db).await?))
    }

    fn name(&self, id: PodId) -> String {
        self.0
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| format!("pod {id}"), |p| p.name.clone())
    }
}

/// Stores by id, to name them.
struct Names(HashMap<StoreId, Store>);

impl Names {
    async fn read(state: &AppState, ids: Vec<StoreId>) -> Result<Self, ControlError> {
        let mut found = HashMap::new();
        for id in ids {
            if found.contains_key(&id) {
                continue;
            }
            if let Some(store) = stores::get(&state.db, id).await? {
                found.insert(id, store);
            }
        }
        Ok(Self(found))
    }

    fn name(&self, id: StoreId) -> String {
        self.0
            .get(&id)
            .map_or_else(|| format!("store {id}"), |s| s.name.clone())
    }

    fn handle(&self, id: StoreId) -> String {
        self.0
            .get(&id)
            .map(|s| s.handle.clone())
            .unwrap_or_default()
    }
}

#[derive(Serialize)]
struct StoreRow {
    #[serde(flatten)]
    store: Store,
    pod: String,
    orders: String,
}

#[derive(Serialize)]
struct MoveView {
    #[serde(flatten)]
    mv: Move,
    store: String,
    handle: String,
    source: String,
    target: String,
    started: String,
    finished: Option<String>,
    rows: String,
    copied: String,
    lag: Option<String>,
    pause: Option<String>,
    /// Its duration once finished, the time so far while it runs.
    took: String,
    running: bool,
    abortable: bool,
    /// Where the move is on its way: each forward phase, done or not.
    phases: Vec<PhaseStep>,
}

#[derive(Serialize)]
struct PhaseStep {
    name: &'static str,
    done: bool,
    current: bool,
}

/// The forward phases with where `mv` stands (a move rolling back or
/// rolled back shows none done past the one it failed in).
fn phase_steps(mv: &Move) -> Vec<PhaseStep> {
    let at = Phase::FORWARD.iter().position(|p| *p == mv.phase);
    Phase::FORWARD
        .iter()
        .enumerate()
        .map(|(i, p)| PhaseStep {
            name: p.as_str(),
            done: at.is_some_and(|a| i < a || (mv.phase == Phase::Done && i == a)),
            current: at == Some(i) && mv.phase != Phase::Done,
        })
        .collect()
}

fn move_view(mv: Move, fleet: &Fleet, names: &Names) -> MoveView {
    let took = mv
        .duration_ms
        .unwrap_or_else(|| (Utc::now() - mv.created_at).num_milliseconds());
    MoveView {
        store: names.name(mv.store_id),
        handle: names.handle(mv.store_id),
        source: fleet.name(mv.source_pod_id),
        target: fleet.name(mv.target_pod_id),
        started: when(mv.created_at),
        finished: mv.finished_at.map(when),
        rows: count(mv.rows_copied),
        copied: bytes(mv.bytes_copied),
        lag: mv.lag_bytes.map(bytes),
        pause: mv.pause_ms.map(millis),
        took: millis(took),
        running: mv.is_running(),
        abortable: moves::abortable(&mv),
        phases: phase_steps(&mv),
        mv,
    }
}

#[derive(Serialize)]
struct StepView {
    #[serde(flatten)]
    step: Step,
    number: usize,
    store: String,
    from: String,
    to: String,
    amount: String,
}

#[derive(Serialize)]
struct JobView {
    #[serde(flatten)]
    job: Job,
    title: String,
    started: String,
    finished: Option<String>,
    done: usize,
    total: usize,
    running: bool,
}

fn job_title(job: &Job, fleet: &Fleet) -> String {
    match (job.kind, job.pod_id) {
        (Kind::Drain, Some(pod)) => format!("Drain of {}", fleet.name(pod)),
        (Kind::Drain, None) => "Drain".to_owned(),
        (Kind::Rebalance, _) => format!("Rebalance of the {}", measure_words(job.measure)),
    }
}

fn job_view(job: Job, fleet: &Fleet) -> JobView {
    JobView {
        title: job_title(&job, fleet),
        started: when(job.created_at),
        finished: job.finished_at.map(when),
        done: job
            .steps
            .iter()
            .filter(|s| !matches!(s.outcome, Outcome::Pending | Outcome::Moving))
            .count(),
        total: job.steps.len(),
        running: job.status == JobStatus::Running,
        job,
    }
}

#[derive(Serialize)]
struct PlannedView {
    #[serde(flatten)]
    planned: PlannedMove,
    store: String,
    handle: String,
    from: String,
    to: String,
    amount: String,
}

fn planned_views(
    moves: &[PlannedMove],
    measure: Measure,
    fleet: &Fleet,
    names: &Names,
) -> Vec<PlannedView> {
    moves
        .iter()
        .map(|m| PlannedView {
            store: names.name(m.store_id),
            handle: names.handle(m.store_id),
            from: fleet.name(m.from_pod_id),
            to: fleet.name(m.to_pod_id),
            amount: amount(measure, i64::try_from(m.amount).unwrap_or(i64::MAX)),
            planned: m.clone(),
        })
        .collect()
}

#[derive(Serialize)]
struct Impact {
    name: String,
    state: PodState,
    before: String,
    after: String,
    changes: bool,
}

fn impacts(fleet: &Fleet, moves: &[PlannedMove], measure: Measure) -> Vec<Impact> {
    after_moves(&fleet.0, moves, measure)
        .into_iter()
        .map(|(id, before, after)| {
            let pod = fleet.0.iter().find(|p| p.id == id);
            Impact {
                name: fleet.name(id),
                state: pod.map_or(PodState::Active, |p| p.state),
                before: amount(measure, before),
                after: amount(measure, after),
                changes: before != after,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct MeasureOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn measure_options(chosen: Measure) -> Vec<MeasureOption> {
    Measure::ALL
        .into_iter()
        .map(|m| MeasureOption {
            value: m.as_str(),
            label: measure_words(m),
            selected: m == chosen,
        })
        .collect()
}

// ---------------------------------------------------------------------
// Handlers.

/// An id in a page's path; any other text is a page not found.
fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

/// A refusal a form's page shows again with its reason (its status and a
/// sentence); an internal error fails the page instead.
fn refusal(err: ControlError) -> Result<(StatusCode, String), ControlError> {
    let err = err.into_api();
    if err.code == ErrorCode::Internal {
        return Err(err.into());
    }
    Ok((err.code.status(), sentence(&err.message)))
}

fn ok_page(template: &str, title: &str, extra: Value) -> Result<Response, ControlError> {
    Ok(html(StatusCode::OK, render(template, title, extra)?))
}

/// `GET /console`: every pod with its load against its capacities.
async fn pods_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let pods = pods::list_pods(&state.db).await?;
            let active = pods.iter().filter(|p| p.state == PodState::Active).count();
            let totals = context! {
                pods => pods.len(),
                active,
                stores => count(pods.iter().map(|p| p.stores).sum()),
                orders => count(pods.iter().map(|p| p.orders_last_hour).sum()),
                requests => count(pods.iter().map(|p| p.requests_per_minute).sum()),
                bytes => bytes(pods.iter().map(|p| p.bytes).sum()),
            };
            let pods: Vec<PodView> = pods.into_iter().map(pod_view).collect();
            ok_page(
                "console_pods.html",
                "Pods",
                context! { pods, totals, ..frame(&session, "pods") },
            )
        }
        .await,
    )
}

/// `GET /console/stores?q=`: the stores whose handle, name, owner's email
/// or domain contains `q` (or whose id it is); without `q`, the first
/// stores created.
async fn stores_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let q: String = field(&pairs, "q")
                .unwrap_or_default()
                .chars()
                .take(MAX_QUERY)
                .collect();
            // An empty text is in every store's handle: the first stores.
            let found = stores::search(&state.db, &q, STORES_SHOWN).await?;
            let fleet = Fleet::read(&state).await?;
            let full = found.len() as i64 == STORES_SHOWN;
            let rows: Vec<StoreRow> = found
                .into_iter()
                .map(|store| StoreRow {
                    pod: fleet.name(store.pod_id),
                    orders: store
                        .load
                        .as_ref()
                        .map_or_else(|| "–".to_owned(), |l| count(l.orders_last_hour)),
                    store,
                })
                .collect();
            ok_page(
                "console_stores.html",
                "Stores",
                context! { q, rows, full, shown => STORES_SHOWN, ..frame(&session, "stores") },
            )
        }
        .await,
    )
}

#[derive(Serialize)]
struct TargetOption {
    id: PodId,
    label: String,
}

/// A store's page, with `problem` (a refused move) above its move form.
async fn render_store(
    state: &AppState,
    session: &OperatorSession,
    id: StoreId,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, ControlError> {
    let store = stores::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    let fleet = Fleet::read(state).await?;
    let names = Names(HashMap::from([(store.id, store.clone())]));
    let history = moves::sql::list(&state.db, Some(id), None, STORE_MOVES_SHOWN).await?;
    let moving = history.iter().find(|m| m.is_running()).map(|m| m.id);
    let history: Vec<MoveView> = history
        .into_iter()
        .map(|m| move_view(m, &fleet, &names))
        .collect();
    let targets: Vec<TargetOption> = fleet
        .0
        .iter()
        .filter(|p| p.state == PodState::Active && p.id != store.pod_id && p.movable)
        .map(|p| TargetOption {
            id: p.id,
            label: format!(
                "{} ({} of {} stores, {})",
                p.name,
                count(p.stores),
                count(i64::from(p.capacity)),
                bytes(p.bytes)
            ),
        })
        .collect();
    let pod = fleet.0.iter().find(|p| p.id == store.pod_id).cloned();
    let load = store.load.as_ref().map(|l| {
        context! {
            rows => count(l.rows),
            bytes => bytes(l.bytes),
            orders => count(l.orders_last_hour),
            requests => count(l.requests_per_minute),
            reported => when(l.reported_at),
            sizes => l.sizes_as_of.map(when),
        }
    });
    let title = store.name.clone();
    let body = render(
        "console_store.html",
        &title,
        context! {
            store => Value::from_serialize(&store),
            created => when(store.created_at),
            active => store.state == TenantState::Active,
            pod => Value::from_serialize(&pod),
            pod_name => fleet.name(store.pod_id),
            load,
            moves => history,
            moving,
            targets,
            problem,
            ..frame(session, "stores")
        },
    )?;
    Ok(html(status, body))
}

/// `GET /console/stores/{id}`.
async fn store_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id = path_id(&id, "store")?;
            render_store(&state, &session, id, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /console/stores/{id}/move` (`target`: a pod id, or empty for the
/// pod placement picks): starts the move as `POST /v1/moves` does, then
/// to the move's page.
async fn move_store(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id: StoreId = path_id(&id, "store")?;
            let fields = session.form(&headers, &body)?;
            let started = async {
                let target = match field(&fields, "target").unwrap_or_default() {
                    "" => None,
                    t => Some(
                        t.parse::<PodId>()
                            .map_err(|_| ApiError::invalid("choose a pod from the list"))?,
                    ),
                };
                moves::start(&state, id, target, Reason::Operator, None).await
            }
            .await;
            match started {
                Ok(mv) => Ok(see_other(&format!("/console/moves/{}", mv.id))),
                Err(e) => {
                    let (status, problem) = refusal(e)?;
                    render_store(&state, &session, id, status, Some(problem)).await
                }
            }
        }
        .await,
    )
}

/// A move's page, with `problem` (a refused abort).
async fn render_move(
    state: &AppState,
    session: &OperatorSession,
    id: MoveId,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, ControlError> {
    let mv = moves::sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("move"))?;
    let fleet = Fleet::read(state).await?;
    let names = Names::read(state, vec![mv.store_id]).await?;
    let view = move_view(mv, &fleet, &names);
    let title = format!("Move of {}", view.store);
    let body = render(
        "console_move.html",
        &title,
        context! { mv => view, problem, ..frame(session, "jobs") },
    )?;
    Ok(html(status, body))
}

/// `GET /console/moves/{id}`: the move as it goes (the page's live part
/// is fetched again every second while it runs).
async fn move_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id = path_id(&id, "move")?;
            render_move(&state, &session, id, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /console/moves/{id}/abort`: as `POST /v1/moves/{id}/abort`.
async fn abort_move(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id: MoveId = path_id(&id, "move")?;
            session.form(&headers, &body)?;
            match moves::abort_move(&state, id).await {
                Ok(_) => Ok(see_other(&format!("/console/moves/{id}"))),
                Err(e) => {
                    let (status, problem) = refusal(e)?;
                    render_move(&state, &session, id, status, Some(problem)).await
                }
            }
        }
        .await,
    )
}

/// `GET /console/jobs`: drains and rebalances, the latest moves, and the
/// rebalance planner's form.
async fn jobs_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let fleet = Fleet::read(&state).await?;
            let jobs: Vec<JobView> = jobs::sql::list(&state.db, JOBS_SHOWN)
                .await?
                .into_iter()
                .map(|j| job_view(j, &fleet))
                .collect();
            let recent = moves::sql::list(&state.db, None, None, MOVES_SHOWN).await?;
            let names = Names::read(&state, recent.iter().map(|m| m.store_id).collect()).await?;
            let recent: Vec<MoveView> = recent
                .into_iter()
                .map(|m| move_view(m, &fleet, &names))
                .collect();
            ok_page(
                "console_jobs.html",
                "Moves and jobs",
                context! {
                    jobs,
                    moves => recent,
                    measures => measure_options(Measure::default()),
                    ..frame(&session, "jobs")
                },
            )
        }
        .await,
    )
}

/// A job's page, with `problem` (a refused cancel).
async fn render_job(
    state: &AppState,
    session: &OperatorSession,
    id: JobId,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, ControlError> {
    let job = jobs::sql::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let fleet = Fleet::read(state).await?;
    let names = Names::read(
        state,
        job.steps.iter().map(|s| s.planned.store_id).collect(),
    )
    .await?;
    let steps: Vec<StepView> = job
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepView {
            number: i + 1,
            store: names.name(s.planned.store_id),
            from: fleet.name(s.planned.from_pod_id),
            to: fleet.name(s.planned.to_pod_id),
            amount: amount(
                job.measure,
                i64::try_from(s.planned.amount).unwrap_or(i64::MAX),
            ),
            step: s.clone(),
        })
        .collect();
    let pause = millis(i64::try_from(job.throttle_ms).unwrap_or(i64::MAX));
    let view = job_view(job, &fleet);
    let title = view.title.clone();
    let body = render(
        "console_job.html",
        &title,
        context! { job => view, steps, pause, problem, ..frame(session, "jobs") },
    )?;
    Ok(html(status, body))
}

/// `GET /console/jobs/{id}`: a drain or rebalance and its steps, live.
async fn job_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id = path_id(&id, "job")?;
            render_job(&state, &session, id, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /console/jobs/{id}/cancel`: as `POST /v1/jobs/{id}/cancel`.
async fn cancel_job(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id: JobId = path_id(&id, "job")?;
            session.form(&headers, &body)?;
            match jobs::cancel_job(&state, id).await {
                Ok(_) => Ok(see_other(&format!("/console/jobs/{id}"))),
                Err(e) => {
                    let (status, problem) = refusal(e)?;
                    render_job(&state, &session, id, status, Some(problem)).await
                }
            }
        }
        .await,
    )
}

/// What the plan page shows: a rebalance's or a drain's.
struct PlanPage {
    title: String,
    measure: Measure,
    moves: Vec<PlannedMove>,
    /// The rebalance's plan (its mean, band and outcome); `None` for a drain.
    plan: Option<Plan>,
    /// The drained pod.
    pod: Option<Pod>,
    /// Why the plan cannot run now (a drain no pod has room for, a job
    /// running), shown instead of the button.
    blocked: Option<String>,
    /// The job already running this plan, or the one in the way.
    running: Option<Job>,
}

async fn render_plan(
    state: &AppState,
    session: &OperatorSession,
    plan: PlanPage,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, ControlError> {
    let fleet = Fleet::read(state).await?;
    let names = Names::read(state, plan.moves.iter().map(|m| m.store_id).collect()).await?;
    let rows = planned_views(&plan.moves, plan.measure, &fleet, &names);
    let impact = impacts(&fleet, &plan.moves, plan.measure);
    let running = plan.running.map(|j| job_view(j, &fleet));
    let (mean, band) = plan.plan.as_ref().map_or((None, None), |p| {
        (
            Some(mean_amount(plan.measure, p.mean)),
            Some((p.band * 100.0).round() as i64),
        )
    });
    let body = render(
        "console_plan.html",
        &plan.title,
        context! {
            drain => plan.pod.is_some(),
            pod => Value::from_serialize(&plan.pod),
            plan => Value::from_serialize(&plan.plan),
            measure => plan.measure.as_str(),
            measure_words => measure_words(plan.measure),
            measures => measure_options(plan.measure),
            mean,
            band,
            moves => rows,
            impact,
            blocked => plan.blocked,
            running,
            default_pause => millis(i64::try_from(state.mover.settings.throttle_ms).unwrap_or(i64::MAX)),
            max_pause => MAX_PAUSE_SECS,
            problem,
            ..frame(session, if plan.pod.is_some() { "pods" } else { "jobs" })
        },
    )?;
    Ok(html(status, body))
}

/// The rebalance plan for `measure`, as `GET /v1/rebalance/plan` plans it.
async fn rebalance_plan(state: &AppState, measure: Measure) -> Result<PlanPage, ControlError> {
    let plan = jobs::current_plan(state, measure).await?;
    let running = jobs::sql::running(&state.db).await?;
    Ok(PlanPage {
        title: "Rebalance plan".to_owned(),
        measure,
        moves: plan.moves.clone(),
        plan: Some(plan),
        pod: None,
        blocked: running
            .as_ref()
            .map(|_| "Another drain or rebalance is running; one job runs at a time.".to_owned()),
        running,
    })
}

fn parse_measure(raw: Option<&str>) -> Result<Measure, ApiError> {
    match raw {
        None | Some("") => Ok(Measure::default()),
        Some(m) => m
            .parse()
            .map_err(|e: mercato_tenants::operator::Unknown| ApiError::invalid(e.to_string())),
    }
}

/// `GET /console/rebalance?measure=`: the moves that would even out
/// `measure` (changes nothing), and the form that applies them.
async fn rebalance_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let measure = parse_measure(field(&pairs, "measure"))?;
            let plan = rebalance_plan(&state, measure).await?;
            render_plan(&state, &session, plan, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /console/rebalance` (`measure`, `pause` in seconds): plans again
/// and runs the plan as a job, as `POST /v1/rebalance/apply`; then to the
/// job's page (back to the plan when the fleet is balanced).
async fn apply_rebalance(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let fields = session.form(&headers, &body)?;
            let measure = parse_measure(field(&fields, "measure"))?;
            let applied = async {
                let pause = pause_ms(&fields)?;
                jobs::apply_rebalance(&state, measure, pause).await
            }
            .await;
            match applied {
                Ok(applied) => Ok(match applied.job {
                    Some(job) => see_other(&format!("/console/jobs/{}", job.id)),
                    None => see_other(&format!(
                        "/console/rebalance?measure={}",
                        urlencode(measure.as_str())
                    )),
                }),
                Err(e) => {
                    let (status, problem) = refusal(e)?;
                    let plan = rebalance_plan(&state, measure).await?;
                    render_plan(&state, &session, plan, status, Some(problem)).await
                }
            }
        }
        .await,
    )
}

/// Pod `id`'s drain plan, as `POST /v1/pods/{id}/drain` would plan it now.
async fn drain_plan(state: &AppState, id: PodId) -> Result<PlanPage, ControlError> {
    let pod = pods::get_pod(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("pod"))?;
    let running = jobs::sql::running(&state.db).await?;
    let title = format!("Drain {}", pod.name);
    // Its own drain running: the plan is that job's.
    if let Some(job) = running
        .as_ref()
        .filter(|j| j.kind == Kind::Drain && j.pod_id == Some(id))
    {
        return Ok(PlanPage {
            title,
            measure: Measure::Bytes,
            moves: job.steps.iter().map(|s| s.planned.clone()).collect(),
            plan: None,
            pod: Some(pod),
            blocked: Some("This pod is being drained.".to_owned()),
            running,
        });
    }
    let mut conn = state.db.acquire().await.map_err(ApiError::internal)?;
    let planned = jobs::plan_drain(&mut conn, id).await;
    drop(conn);
    let (moves, mut blocked) = match planned {
        Ok(moves) => (moves, None),
        Err(e) => (Vec::new(), Some(refusal(e)?.1)),
    };
    if running.is_some() && blocked.is_none() {
        blocked = Some("Another drain or rebalance is running; one job runs at a time.".to_owned());
    }
    Ok(PlanPage {
        title,
        measure: Measure::Bytes,
        moves,
        plan: None,
        pod: Some(pod),
        blocked,
        running,
    })
}

/// `GET /console/pods/{id}/drain`: which store goes where, before anything
/// changes, and the form that starts the drain.
async fn drain_page(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id = path_id(&id, "pod")?;
            let plan = drain_plan(&state, id).await?;
            render_plan(&state, &session, plan, StatusCode::OK, None).await
        }
        .await,
    )
}

/// `POST /console/pods/{id}/drain` (`pause` in seconds): as
/// `POST /v1/pods/{id}/drain`; then to the job's page (to the pods when
/// the pod was empty and is drained at once).
async fn start_drain(
    State(state): State<AppState>,
    MaybeOperator(session): MaybeOperator,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(session) = session else {
        return sign_in_first();
    };
    page(
        async {
            let id: PodId = path_id(&id, "pod")?;
            let fields = session.form(&headers, &body)?;
            let started = async {
                let pause = pause_ms(&fields)?;
                jobs::start_drain(&state, id, pause).await
            }
            .await;
            match started {
                Ok(drain) => Ok(match drain.job {
                    Some(job) => see_other(&format!("/console/jobs/{}", job.id)),
                    None => see_other("/console"),
                }),
                Err(e) => {
                    let (status, problem) = refusal(e)?;
                    let plan = drain_plan(&state, id).await?;
                    render_plan(&state, &session, plan, status, Some(problem)).await
                }
            }
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(120_431), "120,431");
        assert_eq!(count(-1_234_567), "-1,234,567");
    }

    #[test]
    fn bytes_in_decimal_units_as_the_cli_prints_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(4096), "4.1 KB");
        assert_eq!(bytes(999_960), "1.0 MB");
        assert_eq!(bytes(107_374_182_400), "107.4 GB");
        assert_eq!(bytes(i64::MAX), "9.2 EB");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(millis(87), "87 ms");
        assert_eq!(millis(4200), "4.2 s");
        assert_eq!(millis(125_000), "2 min 5 s");
        assert_eq!(millis(-5), "0 ms");
    }

    #[test]
    fn bars_are_whole_percent_capped_and_red_above_85() {
        assert_eq!(percent(12, 100), 12);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(150, 100), 100);
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(1, 0), 100);
        assert_eq!(percent(-4, 10), 0);
        assert_eq!(percent(i64::MAX, i64::MAX), 100);
        assert!(!is_high(85, 100), "85 % is not above 85 %");
        assert!(is_high(851, 1000));
        assert!(is_high(1, 0));
        assert!(!is_high(0, 0));
    }

    #[test]
    fn amounts_carry_their_unit() {
        assert_eq!(amount(Measure::Bytes, 2048), "2.0 KB");
        assert_eq!(amount(Measure::Rows, 12_000), "12,000 rows");
        assert_eq!(amount(Measure::Orders, 3), "3 orders/h");
        assert_eq!(amount(Measure::Stores, 1), "1 store");
        assert_eq!(amount(Measure::Stores, 2), "2 stores");
    }

    #[test]
    fn means_keep_a_decimal_where_it_matters() {
        assert_eq!(mean_amount(Measure::Stores, 0.5), "0.5 stores");
        assert_eq!(mean_amount(Measure::Stores, 2.0), "2 stores");
        assert_eq!(mean_amount(Measure::Orders, 12.25), "12.2 orders/h");
        assert_eq!(mean_amount(Measure::Rows, 1000.01), "1,000 rows");
        assert_eq!(mean_amount(Measure::Bytes, 2047.6), "2.0 KB");
    }

    #[test]
    fn times_are_utc_to_the_second() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07.891+02:00")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(when(t), "2025-03-04 03:06:07 UTC");
    }

    #[test]
    fn pauses_are_whole_seconds_up_to_an_hour() {
        let form = |v: &str| vec![("pause".to_owned(), v.to_owned())];
        assert_eq!(pause_ms(&[]).expect("empty"), None);
        assert_eq!(pause_ms(&form("")).expect("empty"), None);
        assert_eq!(pause_ms(&form("0")).expect("zero"), Some(0));
        assert_eq!(pause_ms(&form(" 5 ")).expect("five"), Some(5000));
        assert_eq!(pause_ms(&form("3600")).expect("an hour"), Some(3_600_000));
        assert!(pause_ms(&form("3601")).is_err());
        assert!(pause_ms(&form("1.5")).is_err());
        assert!(pause_ms(&form("-1")).is_err());
    }

    fn pod(n: u128, bytes: i64, stores: i64) -> Pod {
        Pod {
            id: PodId::from_uuid(uuid::Uuid::from_u128(n)),
            name: format!("pod-{n}"),
            url: String::new(),
            capacity: 100,
            capacity_bytes: 1_000_000,
            capacity_orders_per_hour: 1000,
            state: PodState::Active,
            stores,
            rows: 0,
            bytes,
            orders_last_hour: 0,
            requests_per_minute: 0,
            movable: true,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_plan_moves_its_amounts_from_pod_to_pod() {
        let pods = [pod(1, 900, 3), pod(2, 100, 1), pod(3, 0, 0)];
        let step = |from: usize, to: usize, amount: u64| PlannedMove {
            store_id: StoreId::new(),
            from_pod_id: pods[from].id,
            to_pod_id: pods[to].id,
            amount,
        };
        let moves = [step(0, 1, 300), step(0, 2, 200)];
        let after: Vec<(i64, i64)> = after_moves(&pods, &moves, Measure::Bytes)
            .into_iter()
            .map(|(_, b, a)| (b, a))
            .collect();
        assert_eq!(after, [(900, 400), (100, 400), (0, 200)]);
        let total = |v: &[(i64, i64)]| v.iter().map(|(_, a)| a).sum::<i64>();
        assert_eq!(total(&after), 1000, "a plan only moves data");
        let stores: Vec<i64> = after_moves(&pods, &[step(0, 2, 1)], Measure::Stores)
            .into_iter()
            .map(|(_, _, a)| a)
            .collect();
        assert_eq!(stores, [2, 1, 1]);
    }

    #[test]
    fn the_phases_show_how_far_a_move_got() {
        let mut mv = Move {
            id: MoveId::new(),
            store_id: StoreId::new(),
            source_pod_id: PodId::new(),
            target_pod_id: PodId::new(),
            reason: Reason::Operator,
            job_id: None,
            phase: Phase::Verifying,
            status: moves::Status::Running,
            abort_requested: false,
            error: None,
            tables_total: 0,
            tables_ready: 0,
            rows_copied: 0,
            bytes_copied: 0,
            lag_bytes: None,
            pause_ms: None,
            duration_ms: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
        };
        let marks = |mv: &Move| {
            phase_steps(mv)
                .iter()
                .map(|s| match (s.done, s.current) {
                    (true, _) => 'x',
                    (_, true) => '>',
                    _ => '.',
                })
                .collect::<String>()
        };
        assert_eq!(marks(&mv), "xx>........");
        mv.phase = Phase::Done;
        assert_eq!(marks(&mv), "xxxxxxxxxxx");
        mv.phase = Phase::RollingBack;
        assert_eq!(marks(&mv), "...........");
    }

    fn session() -> OperatorSession {
        OperatorSession {
            claims: mercato_tenants::Claims::new(
                "op",
                mercato_tenants::Role::Operator,
                None,
                0,
                60,
            ),
            csrf: "c5rf".to_owned(),
        }
    }

    fn a_move(store: StoreId, from: PodId, to: PodId) -> Move {
        Move {
            id: MoveId::new(),
            store_id: store,
            source_pod_id: from,
            target_pod_id: to,
            reason: Reason::Operator,
            job_id: Some(JobId::new()),
            phase: Phase::Copying,
            status: moves::Status::Running,
            abort_requested: false,
            error: Some("<b>broken</b>".to_owned()),
            tables_total: 40,
            tables_ready: 3,
            rows_copied: 12_345,
            bytes_copied: 4096,
            lag_bytes: Some(10),
            pause_ms: None,
            duration_ms: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
        }
    }

    /// Every console page renders with figures in it, escapes what
    /// merchants typed, and carries the session's CSRF token in its forms.
    #[test]
    fn every_console_page_renders_and_escapes() {
        let s = session();
        let pods = vec![pod(1, 900_000, 90), pod(2, 0, 0)];
        let fleet = Fleet(pods.clone());
        let store = Store {
            id: StoreId::new(),
            name: "<script>alert(1)</script>".to_owned(),
            handle: "lamps".to_owned(),
            owner_email: "ada@example.com".to_owned(),
            currency: mercato_tenants::Currency::parse("USD").expect("usd"),
            pod_id: pods[0].id,
            state: TenantState::Active,
            created_at: Utc::now(),
            domains: vec![],
            load: None,
        };
        let names = Names(HashMap::from([(store.id, store.clone())]));
        let mv = move_view(a_move(store.id, pods[0].id, pods[1].id), &fleet, &names);
        let escaped = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;";
        let check = |name: &str, html: String, wants: &[&str]| {
            assert!(!html.contains("<script>alert"), "{name} escapes");
            assert_eq!(html.matches("<h1>").count(), 1, "{name} has one h1");
            for w in wants {
                assert!(html.contains(w), "{name} shows {w}:\n{html}");
            }
        };
        let pods_html = render(
            "console_pods.html",
            "Pods",
            context! { pods => pods.iter().cloned().map(pod_view).collect::<Vec<_>>(), totals => context! { pods => 2 }, ..frame(&s, "pods") },
        )
        .expect("pods");
        check(
            "pods",
            pods_html,
            &[
                "90 of 100 stores",
                "bar bar-high",
                "width: 90%",
                "/drain\">Drain",
            ],
        );
        let rows = vec![StoreRow {
            store: store.clone(),
            pod: "pod-1".into(),
            orders: "–".into(),
        }];
        let html = render(
            "console_stores.html",
            "Stores",
            context! { q => "<i>", rows, full => false, shown => 50, ..frame(&s, "stores") },
        )
        .expect("stores");
        check("stores", html, &[escaped, "value=\"&lt;i&gt;\"", "lamps"]);
        let html = render(
            "console_store.html",
            "x",
            context! {
                store => Value::from_serialize(&store), active => true, pod_name => "pod-1",
                moves => vec![move_view(a_move(store.id, pods[0].id, pods[1].id), &fleet, &names)],
                targets => vec![TargetOption { id: pods[1].id, label: "pod-2".into() }],
                problem => "No <room>.",
                ..frame(&s, "stores")
            },
        )
        .expect("store");
        check(
            "store",
            html,
            &[
                escaped,
                "No &lt;room&gt;.",
                "value=\"c5rf\"",
                "Let placement choose",
                "copying",
            ],
        );
        let html = render(
            "console_move.html",
            "x",
            context! { mv, ..frame(&s, "jobs") },
        )
        .expect("move");
        check(
            "move",
            html,
            &[
                "data-live",
                "aria-live=\"polite\"",
                "3 of 40",
                "4.1 KB",
                "&lt;b&gt;broken",
                "Abort the move",
                "value=\"c5rf\"",
            ],
        );
        let job = Job {
            id: JobId::new(),
            kind: Kind::Drain,
            pod_id: Some(pods[0].id),
            measure: Measure::Bytes,
            throttle_ms: 5000,
            steps: vec![Step::pending(PlannedMove {
                store_id: store.id,
                from_pod_id: pods[0].id,
                to_pod_id: pods[1].id,
                amount: 2048,
            })],
            next_step: 0,
            status: JobStatus::Running,
            cancel_requested: false,
            error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
        };
        let steps = vec![StepView {
            step: job.steps[0].clone(),
            number: 1,
            store: store.name.clone(),
            from: "pod-1".into(),
            to: "pod-2".into(),
            amount: "2.0 KB".into(),
        }];
        let html = render(
            "console_job.html",
            "Drain of pod-1",
            context! { job => job_view(job.clone(), &fleet), steps, pause => "5.0 s", ..frame(&s, "jobs") },
        )
        .expect("job");
        check(
            "job",
            html,
            &[
                "Drain of pod-1",
                "0 of 1 steps",
                "2.0 KB",
                "Cancel the job",
                "data-live",
            ],
        );
        let html = render(
            "console_jobs.html",
            "Moves and jobs",
            context! {
                jobs => vec![job_view(job, &fleet)],
                moves => vec![move_view(a_move(store.id, pods[0].id, pods[1].id), &fleet, &names)],
                measures => measure_options(Measure::Rows),
                ..frame(&s, "jobs")
            },
        )
        .expect("jobs");
        check(
            "jobs",
            html,
            &[
                "Drain of pod-1",
                escaped,
                "value=\"rows\" selected",
                "<th scope=\"col\">",
            ],
        );
        let planned = [PlannedMove {
            store_id: store.id,
            from_pod_id: pods[0].id,
            to_pod_id: pods[1].id,
            amount: 1,
        }];
        for drain in [true, false] {
            let html = render(
                "console_plan.html",
                "Plan",
                context! {
                    drain,
                    pod => Value::from_serialize(&pods[0]),
                    plan => Value::from_serialize(Plan { measure: Measure::Stores, mean: 45.0, band: 0.1, balanced: true, moves: planned.to_vec() }),
                    measure => "stores",
                    measures => measure_options(Measure::Stores),
                    moves => planned_views(&planned, Measure::Stores, &fleet, &names),
                    impact => impacts(&fleet, &planned, Measure::Stores),
                    ..frame(&s, "jobs")
                },
            )
            .expect("plan");
            let button = if drain {
                "Start draining"
            } else {
                "Apply this plan"
            };
            check(
                "plan",
                html,
                &[
                    escaped,
                    "1 store",
                    "90 stores",
                    "89 stores",
                    button,
                    "value=\"c5rf\"",
                ],
            );
        }
    }
}
