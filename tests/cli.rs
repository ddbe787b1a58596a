//! End-to-end tests of the operator CLI: the real `mercato` binary run as a
//! child process against a running control plane. Moves, drains and
//! rebalancing are rendered from JSON samples in `src/ops/render.rs`; these
//! tests cover what talks to the API: pods, stores, errors and exit codes.

mod common;

use chrono::{DateTime, Utc};
use common::Stack;
use serde_json::{json, Value};

/// What one run of the binary left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `mercato <args>` with `env` (and nothing inherited that would
/// change who it talks to or as whom).
async fn mercato_with(env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
        .args(args)
        .env_remove("MERCATO_CONTROL_PLANE_URL")
        .env_remove("MERCATO_TOKEN")
        .env_remove("MERCATO_JWT_SECRET")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run mercato");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `mercato <args>` as the stack's operator.
async fn mercato(stack: &Stack, args: &[&str]) -> Run {
    let url = stack.control_plane_url();
    mercato_with(
        &[
            ("MERCATO_CONTROL_PLANE_URL", url.as_str()),
            ("MERCATO_TOKEN", stack.operator.as_str()),
        ],
        args,
    )
    .await
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The store as the control plane has it.
async fn store_json(stack: &Stack, handle: &str) -> Value {
    let page: Value = stack
        .http
        .get(format!("{}/v1/stores", stack.control_plane_url()))
        .query(&[("handle", handle)])
        .bearer_auth(&stack.operator)
        .send()
        .await
        .expect("get store")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    page["items"][0].clone()
}

#[tokio::test]
async fn operator_cli_lists_pods_and_creates_lists_and_shows_stores() {
    let stack = Stack::start(2).await;

    // pods list: both pods, no stores yet.
    let run = mercato(&stack, &["pods", "list"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        words(lines[0]),
        ["NAME", "STATE", "STORES", "CAPACITY", "BYTES", "ORDERS/H", "REQ/MIN", "URL"]
    );
    for (line, pod) in lines[1..].iter().zip(&stack.pods) {
        assert_eq!(
            words(line),
            [
                pod.name.as_str(),
                "active",
                "0",
                "100",
                "0",
                "B",
                "0",
                "0",
                pod.app.url().as_str()
            ]
        );
    }
    let run = mercato(&stack, &["pods", "list", "--json"]).await;
    assert_eq!(run.code, 0);
    let pods: Value = serde_json::from_str(&run.stdout).expect("pods list --json is JSON");
    assert_eq!(pods.as_array().map(Vec::len), Some(2));

    // stores create prints where it went and the store.
    let run = mercato(
        &stack,
        &[
            "stores",
            "create",
            "--name",
            "Acme Outfitters",
            "--handle",
            "acme",
            "--owner-email",
            "owner@acme.example",
            "--currency",
            "eur",
            "--domain",
            "shop.acme.example",
        ],
    )
    .await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let store = store_json(&stack, "acme").await;
    let id = store["id"].as_str().expect("id").to_owned();
    let pod_id = store["pod_id"].as_str().expect("pod id");
    let pod_name = pods
        .as_array()
        .expect("pods")
        .iter()
        .find(|p| p["id"] == pod_id)
        .and_then(|p| p["name"].as_str())
        .expect("the store's pod is listed")
        .to_owned();
    let created: DateTime<Utc> = store["created_at"]
        .as_str()
        .expect("created_at")
        .parse()
        .expect("timestamp");
    let details = [
        format!("id:       {id}"),
        "handle:   acme".to_owned(),
        "name:     Acme Outfitters".to_owned(),
        "owner:    owner@acme.example".to_owned(),
        "currency: EUR".to_owned(),
        format!("pod:      {pod_name}"),
        "state:    active".to_owned(),
        format!("created:  {}", created.to_rfc3339()),
        "domains:  acme.localhost (platform), shop.acme.example (custom)".to_owned(),
    ];
    let lines = run.lines();
    assert_eq!(lines.len(), 11, "{}", run.stdout);
    assert_eq!(lines[0], format!("created store acme on {pod_name}"));
    assert_eq!(lines[1..10], details);
    // The load is reported by the pod later; until then it says so.
    assert!(lines[10].starts_with("load:     "), "{}", lines[10]);

    // stores list: the one store.
    let run = mercato(&stack, &["stores", "list", "--limit", "10"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(
        words(lines[0]),
        ["HANDLE", "NAME", "POD", "STATE", "BYTES", "ORDERS/H", "ID"]
    );
    let row = words(lines[1]);
    assert_eq!(
        row[..5],
        ["acme", "Acme", "Outfitters", pod_name.as_str(), "active"]
    );
    assert_eq!(row.last(), Some(&id.as_str()));

    // stores show by handle and by id: the same details.
    for key in ["acme", id.as_str()] {
        let run = mercato(&stack, &["stores", "show", key]).await;
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "show {key}");
        let lines = run.lines();
        assert_eq!(lines.len(), 10, "{}", run.stdout);
        assert_eq!(lines[..9], details, "show {key}");
        assert!(lines[9].starts_with("load:     "), "{}", lines[9]);
    }
    let run = mercato(&stack, &["stores", "show", "acme", "--json"]).await;
    assert_eq!(run.code, 0);
    let shown: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["handle"], "acme");

    // Errors: the API's code and message on stderr, exit status 1.
    let run = mercato(&stack, &["stores", "show", "nosuchstore"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            1,
            "",
            "error: not_found: no store with handle nosuchstore\n"
        )
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    let run = mercato(&stack, &["stores", "show", &unknown]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "error: not_found: store not found\n")
    );
    let run = mercato(&stack, &["pods", "drain", "nosuchpod"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "error: not_found: no pod named nosuchpod\n")
    );
    let run = mercato(&stack, &["stores", "move", "acme", "--to", "nosuchpod"]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: not_found: no pod named nosuchpod\n")
    );
    let run = mercato(
        &stack,
        &[
            "stores",
            "create",
            "--name",
            "Other",
            "--handle",
            "acme",
            "--owner-email",
            "o@other.example",
        ],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: handle_taken: "),
        "{}",
        run.stderr
    );
    // Still exactly one store.
    let run = mercato(&stack, &["stores", "list"]).await;
    assert_eq!(run.lines().len(), 2, "{}", run.stdout);

    // Without a token, one is signed with MERCATO_JWT_SECRET: a wrong secret
    // is refused by the control plane.
    let url = stack.control_plane_url();
    let run = mercato_with(
        &[
            ("MERCATO_CONTROL_PLANE_URL", url.as_str()),
            ("MERCATO_JWT_SECRET", "not-the-platform-secret"),
        ],
        &["pods", "list"],
    )
    .await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "error: unauthorized: the token is not valid\n")
    );

    stack.shutdown().await;
}

#[tokio::test]
async fn operator_cli_usage_and_connection_errors() {
    // Usage errors are clap's: exit status 2.
    for args in [
        &["stores", "move"][..],
        &["moves", "list", "--status", "paused"],
        &["moves", "show", "not-a-uuid"],
        &["rebalance", "plan", "--measure", "weight"],
        &["pods", "add", "pod-9", "--url", "http://127.0.0.1:1"],
    ] {
        let run = mercato_with(&[("MERCATO_TOKEN", "t")], args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }

    // No token and no secret to sign one.
    let run = mercato_with(&[], &["pods", "list"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (
            1,
            "",
            "error: no --token or MERCATO_TOKEN: set MERCATO_JWT_SECRET (for `up`, it is in <data-dir>/secret.key)\n"
        )
    );

    // Nothing listening at the control plane's address.
    let port = mercato::local::free_port().expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let run = mercato_with(
        &[("MERCATO_TOKEN", "t")],
        &["stores", "list", "--control-plane", &url],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach the control plane at {url}: ")),
        "{}",
        run.stderr
    );
}

/// A scripted control plane for what the real one does not serve yet in
/// this branch (moves, drains, rebalancing): each read of a move answers the
/// script's next state, the last one repeating.
mod fake {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, Query, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{json, Value};

    pub const STORE: &str = "0190a1b2-0000-7000-8000-000000000001";
    pub const POD_A: &str = "0190a1b2-0000-7000-8000-00000000000a";
    pub const POD_B: &str = "0190a1b2-0000-7000-8000-00000000000b";
    pub const MOVE: &str = "0190a1b2-c3d4-7000-8000-000000000099";

    #[derive(Default)]
    pub struct Script {
        pub moves: VecDeque<Value>,
        pub drain_requested: bool,
        pub requests: Vec<(String, Value)>,
    }

    impl Script {
        fn next_move(&mut self) -> Option<Value> {
            if self.moves.len() > 1 {
                self.moves.pop_front()
            } else {
                self.moves.front().cloned()
            }
        }

        fn exhausted(&self) -> bool {
            self.moves.len() <= 1 && self.moves.front().is_none_or(|m| m["status"] != "running")
        }
    }

    type Shared = Arc<Mutex<Script>>;

    /// A move of the store from pod-1 to pod-2 in `phase` and `status`.
    pub fn a_move(phase: &str, status: &str, extra: Value) -> Value {
        let mut m = json!({
            "id": MOVE, "store_id": STORE, "source_pod_id": POD_A, "target_pod_id": POD_B,
            "reason": "operator", "phase": phase, "status": status,
            "abort_requested": false, "error": null,
            "tables_total": 27, "tables_ready": 12, "rows_copied": 120431,
            "bytes_copied": 12_345_678, "lag_bytes": 4096, "pause_ms": null,
            "duration_ms": null, "created_at": "2026-11-21T10:00:00Z",
            "updated_at": "2026-11-21T10:00:01Z", "finished_at": null
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        m
    }

    fn pod(id: &str, name: &str, state: &str) -> Value {
        json!({"id": id, "name": name, "url": format!("http://{name}.internal"),
               "capacity": 100, "state": state, "stores": 1,
               "created_at": "2026-11-21T09:00:00Z"})
    }

    fn store() -> Value {
        json!({"id": STORE, "name": "Acme", "handle": "acme", "owner_email": "o@acme.example",
               "currency": "USD", "pod_id": POD_A, "state": "active",
               "created_at": "2026-11-21T09:30:00Z",
               "domains": [{"domain": "acme.localhost", "kind": "platform"}], "load": null})
    }

    fn planned() -> Value {
        json!({"store_id": STORE, "from_pod_id": POD_A, "to_pod_id": POD_B, "amount": 2_000_000})
    }

    async fn pods(State(s): State<Shared>) -> Json<Value> {
        let s = s.lock().expect("lock");
        let state = match (s.drain_requested, s.exhausted()) {
            (false, _) => "active",
            (true, false) => "draining",
            (true, true) => "drained",
        };
        Json(json!([
            pod(POD_A, "pod-1", state),
            pod(POD_B, "pod-2", "active")
        ]))
    }

    async fn drain(State(s): State<Shared>) -> (StatusCode, Json<Value>) {
        let mut s = s.lock().expect("lock");
        s.drain_requested = true;
        s.requests.push(("drain".into(), Value::Null));
        (
            StatusCode::ACCEPTED,
            Json(json!({"pod": pod(POD_A, "pod-1", "draining"), "moves": [planned()]})),
        )
    }

    async fn stores(Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
        let wanted = q
            .iter()
            .find(|(k, _)| k == "handle")
            .map(|(_, v)| v.as_str());
        let items = if wanted.is_none_or(|h| h == "acme") {
            vec![store()]
        } else {
            vec![]
        };
        Json(json!({"items": items, "next_cursor": null}))
    }

    async fn one_store() -> Json<Value> {
        Json(store())
    }

    async fn start_move(
        State(s): State<Shared>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let mut s = s.lock().expect("lock");
        s.requests.push(("move".into(), body));
        let first = s.next_move().unwrap_or(Value::Null);
        (StatusCode::ACCEPTED, Json(first))
    }

    async fn list_moves(
        State(s): State<Shared>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let mut s = s.lock().expect("lock");
        let has = |k: &str| q.iter().any(|(name, _)| name == k);
        let items: Vec<Value> = if has("status") {
            // The drain's view: the pod's running moves.
            s.next_move()
                .into_iter()
                .filter(|m| m["status"] == "running")
                .collect()
        } else if has("store_id") {
            s.next_move().into_iter().collect()
        } else {
            // The newest move before a rebalance: none.
            vec![]
        };
        Json(json!({"items": items}))
    }

    async fn show_move(State(s): State<Shared>, Path(_id): Path<String>) -> Json<Value> {
        Json(s.lock().expect("lock").next_move().unwrap_or(Value::Null))
    }

    async fn abort(Path(_id): Path<String>) -> (StatusCode, Json<Value>) {
        (
            StatusCode::CONFLICT,
            Json(
                json!({"error": {"code": "move_finished", "message": "the move is not running", "request_id": null}}),
            ),
        )
    }

    async fn plan(Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
        let measure = q
            .iter()
            .find(|(k, _)| k == "measure")
            .map_or("bytes", |(_, v)| v.as_str())
            .to_owned();
        Json(json!({"measure": measure, "mean": 10.0, "band": 1.0, "balanced": true, "moves": []}))
    }

    async fn apply(State(s): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        s.lock()
            .expect("lock")
            .requests
            .push(("apply".into(), body));
        (
            StatusCode::ACCEPTED,
            Json(
                json!({"measure": "bytes", "mean": 3_000_000.0, "band": 300_000.0,
                        "balanced": false, "moves": [planned()]}),
            ),
        )
    }

    /// Serves `script`; the base URL and the shared script.
    pub async fn serve(moves: Vec<Value>) -> (String, Shared) {
        let shared: Shared = Arc::new(Mutex::new(Script {
            moves: moves.into(),
            ..Script::default()
        }));
        let app = Router::new()
            .route("/v1/pods", get(pods))
            .route("/v1/pods/{id}/drain", post(drain))
            .route("/v1/stores", get(stores))
            .route("/v1/stores/{id}", get(one_store))
            .route("/v1/moves", get(list_moves).post(start_move))
            .route("/v1/moves/{id}", get(show_move))
            .route("/v1/moves/{id}/abort", post(abort))
            .route("/v1/rebalance/plan", get(plan))
            .route("/v1/rebalance/apply", post(apply))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, shared)
    }
}

/// A move that goes through its phases and completes.
fn completing_move() -> Vec<Value> {
    use fake::a_move;
    vec![
        a_move(
            "preflight",
            "running",
            json!({"tables_ready": 0, "rows_copied": 0, "lag_bytes": null}),
        ),
        a_move("copying", "running", json!({})),
        a_move("frozen", "running", json!({"lag_bytes": 0})),
        a_move(
            "done",
            "completed",
            json!({"lag_bytes": 0, "tables_ready": 27, "pause_ms": 87, "duration_ms": 4200,
                   "finished_at": "2026-11-21T10:00:04Z"}),
        ),
    ]
}

async fn against(url: &str, args: &[&str]) -> Run {
    mercato_with(
        &[("MERCATO_CONTROL_PLANE_URL", url), ("MERCATO_TOKEN", "t")],
        args,
    )
    .await
}

#[tokio::test]
async fn a_followed_move_prints_each_phase_and_its_report() {
    let (url, script) = fake::serve(completing_move()).await;
    let run = against(&url, &["stores", "move", "acme", "--to", "pod-2"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    assert_eq!(
        run.lines(),
        [
            format!("moving acme from pod-1 to pod-2 (move {})", fake::MOVE).as_str(),
            "move 0190a1b2… phase=preflight tables=0/27 rows=0 lag_bytes=-",
            "move 0190a1b2… phase=copying tables=12/27 rows=120431 lag_bytes=4096",
            "move 0190a1b2… phase=frozen tables=12/27 rows=120431 lag_bytes=0",
            "move 0190a1b2… phase=done tables=27/27 rows=120431 lag_bytes=0",
            "moved acme from pod-1 to pod-2: pause 87 ms, 120,431 rows (12.3 MB), took 4.2 s",
        ]
    );
    let requests = script.lock().expect("lock").requests.clone();
    assert_eq!(
        requests,
        [(
            "move".to_owned(),
            json!({"store_id": fake::STORE, "target_pod_id": fake::POD_B})
        )]
    );
}

#[tokio::test]
async fn a_rolled_back_move_ends_with_its_error_and_status_1() {
    use fake::a_move;
    let (url, _) = fake::serve(vec![
        a_move("copying", "running", json!({})),
        a_move("rolling_back", "running", json!({})),
        a_move(
            "rolling_back",
            "rolled_back",
            json!({"error": "lag did not converge within 60 s"}),
        ),
    ])
    .await;
    let run = against(&url, &["stores", "move", "acme"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (1, ""), "{}", run.stdout);
    let lines = run.lines();
    assert_eq!(
        lines[1..],
        [
            "move 0190a1b2… phase=copying tables=12/27 rows=120431 lag_bytes=4096",
            "move 0190a1b2… phase=rolling_back tables=12/27 rows=120431 lag_bytes=4096",
            format!(
                "move {} rolled back: lag did not converge within 60 s",
                fake::MOVE
            )
            .as_str(),
        ]
    );

    // --no-follow returns at once with the move's id.
    let (url, _) = fake::serve(completing_move()).await;
    let run = against(&url, &["stores", "move", "acme", "--no-follow"]).await;
    assert_eq!(
        (run.code, run.stdout.clone()),
        (
            0,
            format!("move {} started: acme from pod-1 to pod-2\n", fake::MOVE)
        )
    );
}

#[tokio::test]
async fn draining_a_pod_follows_its_moves_until_it_is_drained() {
    let (url, script) = fake::serve(completing_move()).await;
    let run = against(&url, &["pods", "drain", "pod-1"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    assert_eq!(
        run.lines(),
        [
            "draining pod-1: 1 store to move",
            "  acme to pod-2",
            "move 0190a1b2… phase=preflight tables=0/27 rows=0 lag_bytes=-",
            "move 0190a1b2… phase=copying tables=12/27 rows=120431 lag_bytes=4096",
            "move 0190a1b2… phase=frozen tables=12/27 rows=120431 lag_bytes=0",
            "moved acme from pod-1 to pod-2: pause 87 ms, 120,431 rows (12.3 MB), took 4.2 s",
            "pod-1 drained: 1 store moved",
        ]
    );
    assert_eq!(script.lock().expect("lock").requests.len(), 1);
}

#[tokio::test]
async fn rebalance_plan_and_apply_and_a_refused_abort() {
    let (url, script) = fake::serve(completing_move()).await;
    let run = against(&url, &["rebalance", "plan", "--measure", "stores"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            0,
            "measure: stores\nmean:    10 stores\nband:    ±1 stores (9 stores .. 11 stores)\nbalanced: no moves\n"
        )
    );

    let run = against(&url, &["rebalance", "apply", "--throttle-ms", "100"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    assert_eq!(
        run.lines(),
        [
            "measure: bytes",
            "mean:    3.0 MB",
            "band:    ±300.0 KB (2.7 MB .. 3.3 MB)",
            "1 move:",
            "STORE  FROM   TO     AMOUNT",
            "acme   pod-1  pod-2  2.0 MB",
            format!("moving acme from pod-1 to pod-2 (1/1, move {})", fake::MOVE).as_str(),
            "move 0190a1b2… phase=preflight tables=0/27 rows=0 lag_bytes=-",
            "move 0190a1b2… phase=copying tables=12/27 rows=120431 lag_bytes=4096",
            "move 0190a1b2… phase=frozen tables=12/27 rows=120431 lag_bytes=0",
            "move 0190a1b2… phase=done tables=27/27 rows=120431 lag_bytes=0",
            "moved acme from pod-1 to pod-2: pause 87 ms, 120,431 rows (12.3 MB), took 4.2 s",
            "rebalance finished: 1 moved, 0 rolled back, 0 skipped",
        ]
    );
    assert_eq!(
        script.lock().expect("lock").requests,
        [("apply".to_owned(), json!({"throttle_ms": 100}))]
    );

    let run = against(&url, &["moves", "abort", fake::MOVE]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "error: move_finished: the move is not running\n")
    );
}
