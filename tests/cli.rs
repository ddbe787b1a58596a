//! End-to-end tests of the operator CLI: the real `mercato` binary run as a
//! child process against a running platform: pods, stores, moves, drains
//! and rebalancing, their output, errors and exit codes.

mod common;

use std::collections::BTreeMap;

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
        .env_remove("MERCATO_SIGNING_KEY")
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

    // Without a token, one is signed with MERCATO_SIGNING_KEY: the control
    // plane's key works; another control-plane key is refused by the
    // control plane; a pods key cannot sign an operator token at all.
    let url = stack.control_plane_url();
    let run = mercato_with(
        &[
            ("MERCATO_CONTROL_PLANE_URL", url.as_str()),
            ("MERCATO_SIGNING_KEY", stack.keys.control_plane_secret()),
        ],
        &["pods", "list"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stranger = mercato_devstack::keys::PlatformKeys::generate().expect("keys");
    let run = mercato_with(
        &[
            ("MERCATO_CONTROL_PLANE_URL", url.as_str()),
            ("MERCATO_SIGNING_KEY", stranger.control_plane_secret()),
        ],
        &["pods", "list"],
    )
    .await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "error: unauthorized: the token is not valid\n")
    );
    let pods_key = stranger.pod_tokens().signing_key;
    let run = mercato_with(
        &[
            ("MERCATO_CONTROL_PLANE_URL", url.as_str()),
            ("MERCATO_SIGNING_KEY", &pods_key),
        ],
        &["pods", "list"],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("a pods key does not sign Operator tokens"),
        "{}",
        run.stderr
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
            "error: no --token or MERCATO_TOKEN: set MERCATO_SIGNING_KEY (for `up`, it is in <data-dir>/control-plane.key)\n"
        )
    );

    // Nothing listening at the control plane's address.
    let port = mercato_devstack::local::free_port().expect("port");
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

/// The lines between a move's announcement and its report: its live
/// progress, each a plain `move <id>… phase=...` line.
fn assert_progress(lines: &[&str]) {
    assert!(!lines.is_empty(), "some progress is shown");
    for l in lines {
        assert!(l.starts_with("move ") && l.contains(" phase="), "{l}");
    }
}

/// Store handle → pod name, from `stores list --json`.
async fn where_stores_are(
    stack: &Stack,
    names: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let run = mercato(stack, &["stores", "list", "--json"]).await;
    assert_eq!(run.code, 0);
    let page: Value = serde_json::from_str(&run.stdout).expect("JSON");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            let pod = s["pod_id"].as_str().expect("pod");
            (
                s["handle"].as_str().expect("handle").to_owned(),
                names[pod].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn operator_cli_moves_drains_and_rebalances_a_live_fleet() {
    let stack = Stack::start(2).await;
    let (p1, p2) = (stack.pods[0].name.clone(), stack.pods[1].name.clone());
    let run = mercato(&stack, &["pods", "list", "--json"]).await;
    let pods: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let names: BTreeMap<String, String> = pods
        .as_array()
        .expect("pods")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    for h in ["acme", "bolt", "cove", "dune"] {
        stack.create_store(h).await;
    }
    let placed = where_stores_are(&stack, &names).await;
    let on_p1: Vec<&str> = placed
        .iter()
        .filter(|(_, p)| **p == p1)
        .map(|(h, _)| h.as_str())
        .collect();
    assert_eq!(on_p1.len(), 2, "{placed:?}");

    // Drain the first pod: each move announced, followed and reported.
    let run = mercato(&stack, &["pods", "drain", &p1, "--throttle-ms", "0"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    let lines = run.lines();
    assert_eq!(lines[0], format!("draining {p1}: 2 stores to move"));
    assert_eq!(
        lines[1..3],
        [
            format!("  {} to {p2}", on_p1[0]),
            format!("  {} to {p2}", on_p1[1])
        ]
    );
    let mut at = 3;
    for (i, store) in on_p1.iter().enumerate() {
        let announce = format!("moving {store} from {p1} to {p2} ({}/2, move ", i + 1);
        assert!(lines[at].starts_with(&announce), "{}", run.stdout);
        let report = lines[at..]
            .iter()
            .position(|l| l.starts_with(&format!("moved {store} from {p1} to {p2}: pause ")))
            .map(|k| at + k)
            .unwrap_or_else(|| panic!("no report for {store}: {}", run.stdout));
        assert_progress(&lines[at + 1..report]);
        at = report + 1;
    }
    assert_eq!(lines[at..], [format!("{p1} drained: 2 stores moved")]);
    let placed = where_stores_are(&stack, &names).await;
    assert!(placed.values().all(|p| *p == p2), "{placed:?}");

    // Again: nothing left to move. And a drained pod takes no move.
    let run = mercato(&stack, &["pods", "drain", &p1]).await;
    assert_eq!(
        (run.code, run.stdout.clone()),
        (
            0,
            format!("draining {p1}: 0 stores to move\n{p1} drained\n")
        )
    );
    let run = mercato(&stack, &["stores", "move", "acme", "--to", &p1]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            format!("error: pod_not_movable: pod {p1} is drained\n").as_str()
        )
    );

    // Back in service, a rebalance by store count plans two moves to it:
    // the first two stores by id (created first), one store each.
    let pod1_id = names
        .iter()
        .find(|(_, n)| **n == p1)
        .map(|(id, _)| id.clone())
        .expect("id");
    let r = stack
        .operator(reqwest::Method::PATCH, &format!("/v1/pods/{pod1_id}"))
        .json(&json!({"state": "active"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let plan = [
        "measure: stores".to_owned(),
        "mean:    2 stores".into(),
        "band:    ±10 % (1.8 stores .. 2.2 stores)".into(),
        "2 moves:".into(),
    ];
    let run = mercato(&stack, &["rebalance", "plan", "--measure", "stores"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let lines = run.lines();
    assert_eq!(lines[..4], plan);
    assert_eq!(words(lines[4]), ["STORE", "FROM", "TO", "AMOUNT"]);
    assert_eq!(words(lines[5]), ["acme", &p2, &p1, "1", "store"]);
    assert_eq!(words(lines[6]), ["bolt", &p2, &p1, "1", "store"]);
    assert_eq!(lines.len(), 7);

    let run = mercato(
        &stack,
        &[
            "rebalance",
            "apply",
            "--measure",
            "stores",
            "--throttle-ms",
            "0",
        ],
    )
    .await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    let lines = run.lines();
    assert_eq!(lines[..4], plan);
    assert!(
        lines[7].starts_with(&format!("moving acme from {p2} to {p1} (1/2, move ")),
        "{}",
        run.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("moving bolt from {p2} to {p1} (2/2, move "))),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("moved ")).count(),
        2,
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.last().copied(),
        Some("rebalance completed: 2 moved, 0 rolled back, 0 skipped")
    );
    let run = mercato(&stack, &["rebalance", "plan", "--measure", "stores"]).await;
    assert!(
        run.stdout.ends_with("balanced: no moves\n"),
        "{}",
        run.stdout
    );

    // A single move, followed to its report; then it can no longer be
    // aborted.
    let run = mercato(&stack, &["stores", "move", "cove", "--to", &p1]).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    let lines = run.lines();
    let first = words(lines[0]);
    assert_eq!(first[..6], ["moving", "cove", "from", &p2, "to", &p1]);
    let id = first[7].trim_end_matches(')').to_owned();
    assert_progress(&lines[1..lines.len() - 1]);
    assert!(
        lines[lines.len() - 1].starts_with(&format!("moved cove from {p2} to {p1}: pause ")),
        "{}",
        run.stdout
    );
    let run = mercato(&stack, &["moves", "abort", &id]).await;
    assert_eq!(
        (run.code, run.stderr.clone()),
        (
            1,
            format!("error: move_finished: move {id} is completed and can no longer be aborted\n")
        )
    );
    let placed = where_stores_are(&stack, &names).await;
    assert_eq!(
        placed.values().filter(|p| **p == p1).count(),
        3,
        "acme, bolt and cove on {p1}: {placed:?}"
    );

    // Clear refusals: a move to the pod the store is on, a second move of a
    // store that is moving.
    let run = mercato(&stack, &["stores", "move", "acme", "--to", &p1]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: already_on_pod: store "),
        "{}",
        run.stderr
    );
    let run = mercato(
        &stack,
        &["stores", "move", "dune", "--to", &p1, "--no-follow"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let started = words(&run.stdout);
    assert_eq!(
        (started[0], &started[2..]),
        ("move", &["started:", "dune", "from", &p2, "to", &p1][..])
    );
    let id = started[1].to_owned();
    let run = mercato(&stack, &["stores", "move", "dune"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: move_in_progress: store ")
            && run
                .stderr
                .ends_with(&format!("is already moving (move {id})\n")),
        "{}",
        run.stderr
    );
    stack
        .eventually("the move of dune finishes", || async {
            let run = mercato(&stack, &["moves", "show", &id, "--json"]).await;
            let m: Value = serde_json::from_str(&run.stdout).ok()?;
            (m["status"] == "completed").then_some(())
        })
        .await;

    stack.shutdown().await;
}
