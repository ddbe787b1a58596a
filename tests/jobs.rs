//! Drains and rebalances: plans of live moves the control plane runs one at
//! a time as persisted jobs (`/v1/pods/{id}/drain`, `/v1/rebalance/*`,
//! `/v1/jobs`).

mod common;

use std::collections::BTreeMap;

use common::{refusal, Stack};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(stack: &Stack, path: &str) -> Value {
    let r = stack.operator(Method::GET, path).send().await.expect("get");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

/// Sends `body` to `path` and expects `status`; the answer's JSON.
async fn post(stack: &Stack, path: &str, body: Value, status: u16) -> Value {
    let r = stack
        .operator(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("post");
    let got = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "POST {path} {body}: {text}");
    serde_json::from_str(&text).expect("json")
}

async fn patch_pod(stack: &Stack, pod: &str, body: Value) {
    let r = stack
        .operator(Method::PATCH, &format!("/v1/pods/{pod}"))
        .json(&body)
        .send()
        .await
        .expect("patch pod");
    assert_eq!(r.status(), 200);
}

/// Pod ids in the order of `stack.pods`.
async fn pod_ids(stack: &Stack) -> Vec<String> {
    let pods = get(stack, "/v1/pods").await;
    stack
        .pods
        .iter()
        .map(|p| {
            pods.as_array()
                .expect("pods")
                .iter()
                .find(|q| q["name"] == p.name.as_str())
                .and_then(|q| q["id"].as_str())
                .expect("registered")
                .to_owned()
        })
        .collect()
}

async fn pod_state(stack: &Stack, pod: &str) -> String {
    get(stack, "/v1/pods")
        .await
        .as_array()
        .expect("pods")
        .iter()
        .find(|p| p["id"] == pod)
        .and_then(|p| p["state"].as_str())
        .expect("pod")
        .to_owned()
}

/// Store handle → pod id, as the registry has them.
async fn placement(stack: &Stack) -> BTreeMap<String, String> {
    get(stack, "/v1/stores?limit=100").await["items"]
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| {
            (
                s["handle"].as_str().expect("handle").to_owned(),
                s["pod_id"].as_str().expect("pod").to_owned(),
            )
        })
        .collect()
}

fn count_on(placement: &BTreeMap<String, String>, pod: &str) -> usize {
    placement.values().filter(|p| *p == pod).count()
}

async fn job(stack: &Stack, id: &str) -> Value {
    get(stack, &format!("/v1/jobs/{id}")).await
}

async fn wait_job(stack: &Stack, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let j = job(stack, id).await;
        if done(&j) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}: {j}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn wait_finished(stack: &Stack, id: &str) -> Value {
    wait_job(stack, id, "the job finishes", |j| j["status"] != "running").await
}

/// Every store answers through the router.
async fn all_serve(stack: &Stack, handles: &[&str]) {
    for h in handles {
        let r = stack
            .get(&format!("{h}.{}", common::PLATFORM), "/api/products")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{h} serves");
    }
}

/// The moves a job made, oldest first.
async fn moves_of(stack: &Stack, job: &str) -> Vec<Value> {
    let mut moves: Vec<Value> = get(stack, "/v1/moves?limit=500").await["items"]
        .as_array()
        .expect("moves")
        .iter()
        .filter(|m| m["job_id"] == job)
        .cloned()
        .collect();
    moves.reverse();
    moves
}

#[tokio::test]
async fn drains_and_rebalances_refuse_what_they_cannot_do() {
    let stack = Stack::start(2).await;
    for h in ["alder", "birch"] {
        stack.create_store(h).await;
    }
    let ids = pod_ids(&stack).await;
    let placed = placement(&stack).await;
    assert_eq!(
        (count_on(&placed, &ids[0]), count_on(&placed, &ids[1])),
        (1, 1),
        "placement by headroom spreads the stores"
    );

    let unknown = uuid::Uuid::now_v7();
    for (method, path, body, want) in [
        (
            Method::POST,
            format!("/v1/pods/{unknown}/drain"),
            json!({}),
            (404, "not_found"),
        ),
        (
            Method::POST,
            format!("/v1/pods/{}/drain", ids[0]),
            json!({"throttle_ms": 3_600_001}),
            (400, "invalid_request"),
        ),
        (
            Method::POST,
            "/v1/rebalance/apply".into(),
            json!({"measure": "weight"}),
            (400, "invalid_request"),
        ),
        (
            Method::GET,
            "/v1/rebalance/plan?measure=weight".into(),
            Value::Null,
            (400, "invalid_request"),
        ),
        (
            Method::GET,
            format!("/v1/jobs/{unknown}"),
            Value::Null,
            (404, "not_found"),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{unknown}/cancel"),
            Value::Null,
            (404, "not_found"),
        ),
    ] {
        let mut req = stack.operator(method.clone(), &path);
        if !body.is_null() {
            req = req.json(&body);
        }
        let (status, code) = refusal(req).await;
        assert_eq!((status, code.as_str()), want, "{method} {path} {body}");
    }

    // The other pod is full: nowhere to drain to, and the pod stays active.
    patch_pod(&stack, &ids[1], json!({"capacity": 1})).await;
    let (status, code) = refusal(
        stack
            .operator(Method::POST, &format!("/v1/pods/{}/drain", ids[0]))
            .json(&json!({})),
    )
    .await;
    assert_eq!((status, code.as_str()), (503, "no_pod_available"));
    assert_eq!(pod_state(&stack, &ids[0]).await, "active");
    assert_eq!(get(&stack, "/v1/jobs").await["items"], json!([]));

    // A balanced fleet: an empty plan, and applying it starts no job.
    patch_pod(&stack, &ids[1], json!({"capacity": 100})).await;
    let plan = get(&stack, "/v1/rebalance/plan?measure=stores").await;
    assert_eq!(
        (
            &plan["measure"],
            &plan["mean"],
            &plan["band"],
            &plan["balanced"]
        ),
        (&json!("stores"), &json!(1.0), &json!(0.1), &json!(true))
    );
    assert_eq!(plan["moves"], json!([]));
    let applied = post(
        &stack,
        "/v1/rebalance/apply",
        json!({"measure": "stores"}),
        200,
    )
    .await;
    assert_eq!(
        (&applied["moves"], &applied["job"]),
        (&json!([]), &Value::Null)
    );
    assert_eq!(get(&stack, "/v1/jobs").await["items"], json!([]));
    assert_eq!(placement(&stack).await, placed, "nothing moved");

    stack.shutdown().await;
}

#[tokio::test]
async fn a_drain_survives_a_control_plane_restart_and_a_rebalance_skips_a_stale_step() {
    let mut stack = Stack::start(2).await;
    let handles = ["alder", "birch", "cedar", "dogwood"];
    for h in handles {
        stack.create_store(h).await;
    }
    let ids = pod_ids(&stack).await;
    let before = placement(&stack).await;
    assert_eq!(count_on(&before, &ids[0]), 2);

    // Drain the first pod, 3 s between its two moves.
    let drain_path = format!("/v1/pods/{}/drain", ids[0]);
    let drain = post(&stack, &drain_path, json!({"throttle_ms": 3000}), 202).await;
    assert_eq!(drain["pod"]["state"], "draining");
    assert_eq!(drain["moves"].as_array().map(Vec::len), Some(2));
    for m in drain["moves"].as_array().expect("moves") {
        assert_eq!(
            (&m["from_pod_id"], &m["to_pod_id"]),
            (&json!(ids[0]), &json!(ids[1]))
        );
    }
    let job_id = drain["job"]["id"].as_str().expect("job").to_owned();
    assert_eq!(
        (
            &drain["job"]["kind"],
            &drain["job"]["status"],
            &drain["job"]["throttle_ms"]
        ),
        (&json!("drain"), &json!("running"), &json!(3000))
    );

    // While it runs: asking again answers the same drain; anything else
    // waits its turn.
    let again = post(&stack, &drain_path, json!({}), 202).await;
    assert_eq!(again["job"]["id"], job_id.as_str());
    for (path, body) in [
        (format!("/v1/pods/{}/drain", ids[1]), json!({})),
        ("/v1/rebalance/apply".to_owned(), json!({})),
    ] {
        let (status, code) = refusal(stack.operator(Method::POST, &path).json(&body)).await;
        assert_eq!(
            (status, code.as_str()),
            (409, "fleet_job_running"),
            "{path}"
        );
    }
    // A draining pod takes no new store.
    let fifth = stack.create_store("elm").await;
    assert_eq!(fifth["pod_id"], ids[1].as_str());

    // The control plane dies between the two moves and comes back.
    let j = wait_job(&stack, &job_id, "the first move is done", |j| {
        j["next_step"] == 1
    })
    .await;
    assert_eq!(j["steps"][0]["outcome"], "completed");
    stack.stop_control_plane().await;
    stack.start_control_plane().await;
    let j = wait_finished(&stack, &job_id).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["error"], Value::Null);
    assert_eq!(j["next_step"], 2);
    let moves = moves_of(&stack, &job_id).await;
    assert_eq!(moves.len(), 2, "one move per step, none started twice");
    for (step, mv) in j["steps"].as_array().expect("steps").iter().zip(&moves) {
        assert_eq!(step["outcome"], "completed");
        assert_eq!(step["move_id"], mv["id"]);
        assert_eq!(
            (&mv["status"], &mv["reason"]),
            (&json!("completed"), &json!("drain"))
        );
    }
    assert_eq!(pod_state(&stack, &ids[0]).await, "drained");
    let after = placement(&stack).await;
    assert_eq!(count_on(&after, &ids[0]), 0);
    assert_eq!(count_on(&after, &ids[1]), 5);
    all_serve(&stack, &["alder", "birch", "cedar", "dogwood", "elm"]).await;

    // Draining an empty pod again: drained at once, no job.
    let empty = post(&stack, &drain_path, json!({}), 200).await;
    assert_eq!(
        (&empty["pod"]["state"], &empty["job"]),
        (&json!("drained"), &Value::Null)
    );

    // Back in service: a rebalance by store count plans two moves to it.
    patch_pod(&stack, &ids[0], json!({"state": "active"})).await;
    let plan = get(&stack, "/v1/rebalance/plan?measure=stores").await;
    assert_eq!(plan["mean"], 2.5);
    let planned = plan["moves"].as_array().expect("moves").clone();
    assert_eq!(planned.len(), 2, "{plan}");
    let applied = post(
        &stack,
        "/v1/rebalance/apply",
        json!({"measure": "stores", "throttle_ms": 4000}),
        202,
    )
    .await;
    assert_eq!(applied["moves"], json!(planned), "apply runs the plan");
    let rebalance = applied["job"]["id"].as_str().expect("job").to_owned();
    wait_job(&stack, &rebalance, "the first move is done", |j| {
        j["next_step"] == 1
    })
    .await;
    // During the pause, an operator moves the second planned store
    // themselves: the job skips that step rather than move it again.
    let second = &planned[1];
    post(
        &stack,
        "/v1/moves",
        json!({"store_id": second["store_id"], "target_pod_id": second["to_pod_id"]}),
        202,
    )
    .await;
    let j = wait_finished(&stack, &rebalance).await;
    assert_eq!(
        (&j["status"], &j["error"]),
        (
            &json!("failed"),
            &json!("1 of 2 planned moves did not complete")
        )
    );
    assert_eq!(j["steps"][0]["outcome"], "completed");
    assert_eq!(j["steps"][1]["outcome"], "skipped");
    assert_eq!(j["steps"][1]["move_id"], Value::Null);
    assert!(
        j["steps"][1]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{j}"
    );
    assert_eq!(moves_of(&stack, &rebalance).await.len(), 1);

    // A cancelled drain stops before its next move and leaves the pod
    // draining with the rest of its stores.
    let operator_move = get(&stack, "/v1/moves?status=running").await;
    for m in operator_move["items"].as_array().expect("moves") {
        let id = m["id"].as_str().expect("id");
        wait_until_move_ends(&stack, id).await;
    }
    let on_first = count_on(&placement(&stack).await, &ids[0]);
    assert_eq!(on_first, 2, "the rebalance and the operator moved one each");
    let drain = post(&stack, &drain_path, json!({"throttle_ms": 60_000}), 202).await;
    let cancelled = drain["job"]["id"].as_str().expect("job").to_owned();
    wait_job(&stack, &cancelled, "the first move is done", |j| {
        j["next_step"] == 1
    })
    .await;
    let c = post(
        &stack,
        &format!("/v1/jobs/{cancelled}/cancel"),
        json!({}),
        202,
    )
    .await;
    assert_eq!(c["cancel_requested"], true);
    let j = wait_finished(&stack, &cancelled).await;
    assert_eq!(
        (&j["status"], &j["error"], &j["next_step"]),
        (
            &json!("cancelled"),
            &json!("cancelled by an operator"),
            &json!(1)
        )
    );
    assert_eq!(j["steps"][1]["outcome"], "pending");
    assert_eq!(pod_state(&stack, &ids[0]).await, "draining");
    assert_eq!(count_on(&placement(&stack).await, &ids[0]), 1);
    let (status, code) =
        refusal(stack.operator(Method::POST, &format!("/v1/jobs/{cancelled}/cancel"))).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));

    let jobs = get(&stack, "/v1/jobs").await;
    let listed: Vec<&str> = jobs["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        listed,
        [cancelled.as_str(), rebalance.as_str(), job_id.as_str()]
    );
    all_serve(&stack, &["alder", "birch", "cedar", "dogwood", "elm"]).await;

    stack.shutdown().await;
}

async fn wait_until_move_ends(stack: &Stack, id: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while get(stack, &format!("/v1/moves/{id}")).await["status"] == "running" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "move {id} never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
