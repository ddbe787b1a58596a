//! The Helm chart (`helm/mercato`): `helm lint --strict` and `helm template`
//! with the chart's defaults and with each example values file, and checks
//! on the manifests it renders:
//!
//! - every container and init container has resource requests and limits
//!   (CPU and memory); every container of a long-running workload has a
//!   liveness and a readiness probe, a Mercato process's on `/healthz` and
//!   `/readyz` (the mailbox serves no `/readyz`: `/healthz` for both);
//!   every pod spec turns service links off (they would put
//!   `MERCATO_<SERVICE>_PORT` variables in the environment, which the
//!   config loader refuses as unknown settings);
//! - no secret in plain text: rendered once more with the chart making its
//!   Secret from generated values, no value (nor its base64) appears outside
//!   that Secret; a sensitive variable comes from a `secretKeyRef` or is
//!   built only from such variables (`$(POSTGRES_PASSWORD)`); no ConfigMap
//!   sets a secret setting;
//! - exactly one StatefulSet (component `pod`) per commerce pod the values
//!   declare, plus one Postgres and one Redis StatefulSet (components
//!   `pod-postgres`, `pod-redis`) per pod whose store is bundled;
//! - the network policies that select commerce pods let in only the
//!   release's routers and control plane (and its test gateway, for payment
//!   webhooks, when it is on);
//! - Prometheus scrape annotations on every Mercato process, on its `http`
//!   port.
//!
//! The manifests are read with the small YAML reader below (block style as
//! Helm prints it, flow collections, quoted and block scalars), which
//! refuses what it does not understand rather than guess. Helm comes from
//! `scripts/install_helm.sh` (into `.tools/helm/helm`). No cluster, no
//! Docker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

const RELEASE: &str = "mercato";
const NAMESPACE: &str = "shop";

/// The values files rendered: the chart's defaults, then each example.
const CASES: &[Option<&str>] = &[
    None,
    Some("examples/values-small.yaml"),
    Some("examples/values-two-regions.yaml"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("helm/mercato")
}

/// Helm, from `.tools/helm/helm`: `scripts/install_helm.sh` installs it
/// there if it is missing or another version, and else does nothing.
struct Helm {
    bin: PathBuf,
    /// Helm's cache, config and data folders: nothing of the user's.
    home: tempfile::TempDir,
}

impl Helm {
    fn new() -> Self {
        let status = Command::new("bash")
            .arg(root().join("scripts/install_helm.sh"))
            .status()
            .expect("running scripts/install_helm.sh");
        assert!(status.success(), "scripts/install_helm.sh failed");
        let bin = root().join(".tools/helm/helm");
        Self {
            bin,
            home: tempfile::tempdir().expect("a folder for helm"),
        }
    }

    fn run(&self, args: &[&str], values: &[&Path]) -> Result<String, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        for file in values {
            cmd.arg("--values").arg(file);
        }
        for (var, dir) in [
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ] {
            cmd.env(var, self.home.path().join(dir));
        }
        let out = cmd.output().map_err(|e| format!("running helm: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "helm {} failed:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn template(&self, values: &[&Path]) -> Vec<Value> {
        let chart = chart();
        let chart = chart.to_str().expect("a UTF-8 path");
        let text = self
            .run(
                &["template", RELEASE, chart, "--namespace", NAMESPACE],
                values,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        yaml::documents(&text).unwrap_or_else(|e| panic!("reading helm's output: {e}\n{text}"))
    }
}

#[test]
fn the_chart_lints_and_renders_what_a_fleet_needs() {
    let helm = Helm::new();
    let chart_values = read_values(&chart().join("values.yaml"));
    let scratch = tempfile::tempdir().expect("scratch folder");
    for case in CASES {
        let file = case.map(|f| chart().join(f));
        let label = case.unwrap_or("the defaults");
        let files: Vec<&Path> = file.iter().map(PathBuf::as_path).collect();
        let chart_dir = chart();
        let lint = helm.run(
            &[
                "lint",
                "--strict",
                chart_dir.to_str().expect("a UTF-8 path"),
            ],
            &files,
        );
        if let Err(e) = lint {
            panic!("{label}: {e}");
        }

        let example = file.as_deref().map(read_values).unwrap_or(Value::Null);
        let declared = declared_pods(&chart_values, &example);
        assert!(!declared.is_empty(), "{label}: no pods declared");

        // As an operator installs it: the Secret made beforehand.
        let docs = helm.template(&files);
        let mut problems = check_manifests(&docs, &declared, &[]);

        // With the chart making the Secret from generated values, none of
        // which may show anywhere else.
        let sentinels = sentinels(&declared);
        let overlay = scratch.path().join("secrets.json");
        let values: serde_json::Map<String, Value> = sentinels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        std::fs::write(
            &overlay,
            json!({"secrets": {"create": true, "values": values}}).to_string(),
        )
        .expect("writing the overlay");
        let mut with_secret = files.clone();
        with_secret.push(&overlay);
        let docs = helm.template(&with_secret);
        let secrets: Vec<(String, String)> = sentinels.into_iter().collect();
        problems.extend(check_manifests(&docs, &declared, &secrets));

        assert!(problems.is_empty(), "{label}:\n  {}", problems.join("\n  "));
    }
}

/// A commerce pod the values declare, and whether its stores are bundled.
#[derive(Debug, Clone, PartialEq)]
struct DeclaredPod {
    name: String,
    postgres: bool,
    redis: bool,
}

fn read_values(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    yaml::parse(&text).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The pods of `example` laid over the chart's values, as the chart's
/// `mercato.podValues` resolves them.
fn declared_pods(chart: &Value, example: &Value) -> Vec<DeclaredPod> {
    let pods = example.get("pods").unwrap_or(&chart["pods"]);
    let default = |store: &str| {
        example["podDefaults"][store]["bundled"]
            .as_bool()
            .or(chart["podDefaults"][store]["bundled"].as_bool())
            .unwrap_or(true)
    };
    items(pods)
        .iter()
        .map(|p| DeclaredPod {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            postgres: p["postgres"]["bundled"]
                .as_bool()
                .unwrap_or(default("postgres")),
            redis: p["redis"]["bundled"].as_bool().unwrap_or(default("redis")),
        })
        .collect()
}

/// A distinct value for every key the Secret may hold.
fn sentinels(pods: &[DeclaredPod]) -> BTreeMap<String, String> {
    let mut keys: Vec<String> = [
        "control-plane-signing-key",
        "pods-signing-key",
        "router-token",
        "hop-secret",
        "gateway-api-key",
        "gateway-webhook-secret",
        "control-plane-postgres-password",
        "control-plane-database-url",
        "s3-access-key-id",
        "s3-secret-access-key",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for pod in pods {
        for suffix in [
            "postgres-password",
            "redis-password",
            "database-url",
            "redis-url",
        ] {
            keys.push(format!("{}-{suffix}", pod.name));
        }
    }
    keys.into_iter()
        .map(|k| {
            let v = format!("sentinel{}", uuid::Uuid::new_v4().simple());
            (k, v)
        })
        .collect()
}

/// Every problem with one rendering; `secrets` are the Secret's values when
/// the chart made it (key, value).
fn check_manifests(
    docs: &[Value],
    declared: &[DeclaredPod],
    secrets: &[(String, String)],
) -> Vec<String> {
    let mut problems = check_workloads(docs);
    problems.extend(check_secrets(docs, secrets));
    problems.extend(check_pods(docs, declared));
    problems.extend(check_network_policies(docs));
    problems.extend(check_prometheus(docs));
    problems.extend(check_settings(docs));
    problems
}

/// Each `MERCATO_<PROCESS>_*` variable of a router, pod or control plane
/// names one of its settings (the config loader refuses any other) and has
/// a value of its type; a fractional setting cannot be set by a variable at
/// all (the loader reads a variable as a whole number, a boolean or a
/// string): it belongs in the process's TOML file.
fn check_settings(docs: &[Value]) -> Vec<String> {
    let defaults = |process: &str| -> Option<(&'static str, Value)> {
        let (prefix, config) = match process {
            "router" => (
                "MERCATO_ROUTER_",
                serde_json::to_value(mercato_router::RouterConfig::default()),
            ),
            "pod" => (
                "MERCATO_POD_",
                serde_json::to_value(mercato_pod::PodConfig::default()),
            ),
            "control-plane" => (
                "MERCATO_CONTROL_PLANE_",
                serde_json::to_value(mercato_control_plane::ControlPlaneConfig::default()),
            ),
            _ => return None,
        };
        Some((prefix, config.expect("a config serializes")))
    };
    let mut problems = Vec::new();
    for doc in docs {
        let Some((_, spec)) = pod_template(doc) else {
            continue;
        };
        for c in items(&spec["containers"]) {
            let Some((prefix, config)) = mercato_process(c).and_then(defaults) else {
                continue;
            };
            for var in items(&c["env"]) {
                let name = var["name"].as_str().unwrap_or("");
                let Some(path) = name.strip_prefix(prefix) else {
                    continue;
                };
                let path = path.to_ascii_lowercase();
                let setting = path
                    .split("__")
                    .try_fold(&config, |v, key| v.as_object().and_then(|m| m.get(key)));
                let value = var["value"].as_str();
                let fits = match setting {
                    None | Some(Value::Object(_)) => {
                        problems.push(format!("{}: {name} does not name a setting", id(doc)));
                        continue;
                    }
                    Some(Value::Number(n)) if !(n.is_i64() || n.is_u64()) => {
                        problems.push(format!(
                            "{}: {name} is fractional: a variable cannot set it",
                            id(doc)
                        ));
                        continue;
                    }
                    // From a Secret, or built from variables: read at run time.
                    _ if value.is_none_or(|v| v.contains("$(")) => true,
                    Some(Value::Number(_)) => value.is_some_and(|v| v.parse::<i64>().is_ok()),
                    Some(Value::Bool(_)) => value.is_some_and(|v| v.parse::<bool>().is_ok()),
                    Some(_) => true,
                };
                if !fits {
                    problems.push(format!(
                        "{}: {name}={} does not fit the setting's type",
                        id(doc),
                        value.unwrap_or_default()
                    ));
                }
            }
        }
    }
    problems
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn id(doc: &Value) -> String {
    format!(
        "{}/{}",
        kind(doc),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn label<'a>(labels: &'a Value, key: &str) -> &'a str {
    labels[key].as_str().unwrap_or("")
}

/// The pod template of a workload: (its metadata, its spec).
fn pod_template(doc: &Value) -> Option<(&Value, &Value)> {
    let template = match kind(doc) {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &doc["spec"]["template"]
        }
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"],
        "Pod" => doc,
        _ => return None,
    };
    Some((&template["metadata"], &template["spec"]))
}

/// Whether a workload runs for good (probes apply) rather than to completion.
fn long_running(doc: &Value) -> bool {
    !matches!(kind(doc), "Job" | "CronJob")
}

/// Which Mercato process a container runs, if any: `serve <process>`,
/// `gateway` or `mailbox`.
fn mercato_process(container: &Value) -> Option<&str> {
    let args = items(&container["args"]);
    match args.first().and_then(Value::as_str)? {
        "serve" => args.get(1).and_then(Value::as_str),
        "gateway" => Some("gateway"),
        "mailbox" => Some("mailbox"),
        _ => None,
    }
}

fn check_workloads(docs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut workloads = 0;
    for doc in docs {
        let Some((_, spec)) = pod_template(doc) else {
            continue;
        };
        workloads += 1;
        let at = id(doc);
        if spec["enableServiceLinks"] != Value::Bool(false) {
            problems.push(format!(
                "{at}: enableServiceLinks is not false (MERCATO_*_PORT variables would stop the process)"
            ));
        }
        let containers = items(&spec["containers"]);
        if containers.is_empty() {
            problems.push(format!("{at}: no containers"));
        }
        let init = items(&spec["initContainers"]);
        for (c, is_init) in containers
            .iter()
            .map(|c| (c, false))
            .chain(init.iter().map(|c| (c, true)))
        {
            let name = c["name"].as_str().unwrap_or("?");
            for side in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    if c["resources"][side][resource].is_null() {
                        problems.push(format!("{at}: container {name} has no {side}.{resource}"));
                    }
                }
            }
            if is_init || !long_running(doc) {
                continue;
            }
            for probe in ["livenessProbe", "readinessProbe"] {
                let p = &c[probe];
                if ["httpGet", "exec", "tcpSocket", "grpc"]
                    .iter()
                    .all(|h| p[h].is_null())
                {
                    problems.push(format!("{at}: container {name} has no {probe}"));
                }
            }
            if let Some(process) = mercato_process(c) {
                let readiness = if process == "mailbox" {
                    "/healthz"
                } else {
                    "/readyz"
                };
                for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", readiness)]
                {
                    let got = &c[probe]["httpGet"]["path"];
                    if got.as_str() != Some(path) {
                        problems.push(format!("{at}: {process}'s {probe} is on {got}, not {path}"));
                    }
                }
            }
        }
    }
    if workloads == 0 {
        problems.push("nothing rendered runs a container".into());
    }
    problems
}

/// Environment variables that carry a secret, by name.
fn sensitive(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "SIGNING_KEY",
        "API_KEY",
        "ACCESS_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "_AUTH",
    ]
    .iter()
    .any(|s| name.contains(s))
        || name.ends_with("CONTROL_PLANE_TOKEN")
}

/// Settings that hold a secret, as a TOML file would set them.
const SECRET_SETTINGS: &[&str] = &[
    "signing_key",
    "hop_secret",
    "api_key",
    "webhook_secret",
    "control_plane_token",
    "database_url",
    "redis_url",
    "access_key_id",
    "secret_access_key",
    "password",
];

/// Every string in `v`, keys included.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k);
                strings(v, out);
            }
        }
        _ => {}
    }
}

fn check_secrets(docs: &[Value], secrets: &[(String, String)]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut problems = Vec::new();
    let mut in_secret: BTreeSet<&str> = BTreeSet::new();
    for doc in docs {
        let mut found = Vec::new();
        strings(doc, &mut found);
        if kind(doc) == "Secret" {
            let mut held: Vec<String> = items_of(&doc["stringData"]);
            for encoded in items_of(&doc["data"]) {
                if let Ok(bytes) = b64.decode(&encoded) {
                    held.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            for (key, value) in secrets {
                if held.iter().any(|h| h == value) {
                    in_secret.insert(key);
                }
            }
            continue;
        }
        for (key, value) in secrets {
            let encoded = b64.encode(value);
            if found
                .iter()
                .any(|s| s.contains(value.as_str()) || s.contains(&encoded))
            {
                problems.push(format!("{}: holds the secret {key} in plain text", id(doc)));
            }
        }
        if kind(doc) == "ConfigMap" {
            for text in items_of(&doc["data"]) {
                for line in text.lines() {
                    let setting = line.split('=').next().unwrap_or("").trim();
                    if line.contains('=') && SECRET_SETTINGS.iter().any(|s| setting.ends_with(s)) {
                        problems.push(format!("{}: sets {setting} (a secret)", id(doc)));
                    }
                }
            }
        }
        let Some((_, spec)) = pod_template(doc) else {
            continue;
        };
        for c in items(&spec["containers"])
            .iter()
            .chain(items(&spec["initContainers"]))
        {
            problems.extend(check_env(&id(doc), c));
        }
    }
    for (key, _) in secrets {
        if !in_secret.contains(key.as_str()) {
            problems.push(format!("no rendered Secret holds {key}"));
        }
    }
    problems
}

/// The string values of a map (a ConfigMap's or a Secret's `data`).
fn items_of(map: &Value) -> Vec<String> {
    map.as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A sensitive variable comes from a Secret, or is made only of variables
/// that do (`postgres://mercato:$(POSTGRES_PASSWORD)@host/db`).
fn check_env(at: &str, container: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let name = container["name"].as_str().unwrap_or("?");
    let mut from_secret: BTreeSet<&str> = BTreeSet::new();
    for var in items(&container["env"]) {
        let var_name = var["name"].as_str().unwrap_or("");
        if !var["valueFrom"]["secretKeyRef"].is_null() {
            from_secret.insert(var_name);
            continue;
        }
        if !sensitive(var_name) {
            continue;
        }
        let value = var["value"].as_str().unwrap_or("");
        let refs = references(value);
        let ok = !refs.is_empty() && refs.iter().all(|r| from_secret.contains(r.as_str()));
        if !ok {
            problems.push(format!(
                "{at}: container {name} sets {var_name} in plain text, not from a Secret"
            ));
        }
    }
    problems
}

/// The `$(NAME)` references of a Kubernetes variable's value.
fn references(value: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        refs.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    refs
}

fn component(labels: &Value) -> &str {
    label(labels, "app.kubernetes.io/component")
}

fn check_pods(docs: &[Value], declared: &[DeclaredPod]) -> Vec<String> {
    let mut problems = Vec::new();
    // (component, pod) -> StatefulSets
    let mut sets: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for doc in docs.iter().filter(|d| kind(d) == "StatefulSet") {
        let labels = &doc["spec"]["template"]["metadata"]["labels"];
        let pod = label(labels, "mercato.dev/pod");
        let comp = component(labels);
        if comp.starts_with("pod") && pod.is_empty() {
            problems.push(format!("{}: a {comp} StatefulSet of no pod", id(doc)));
        }
        sets.entry((comp.to_owned(), pod.to_owned()))
            .or_default()
            .push(doc);
    }
    let count = |comp: &str, pod: &str| {
        sets.get(&(comp.to_owned(), pod.to_owned()))
            .map_or(0, Vec::len)
    };
    for pod in declared {
        let n = count("pod", &pod.name);
        if n != 1 {
            problems.push(format!("pod {}: {n} StatefulSets, not one", pod.name));
        }
        for (comp, bundled) in [("pod-postgres", pod.postgres), ("pod-redis", pod.redis)] {
            let n = count(comp, &pod.name);
            if n != usize::from(bundled) {
                problems.push(format!(
                    "pod {}: {n} {comp} StatefulSets (bundled: {bundled})",
                    pod.name
                ));
            }
        }
        for set in sets
            .get(&("pod".to_owned(), pod.name.clone()))
            .into_iter()
            .flatten()
        {
            let env = items(&set["spec"]["template"]["spec"]["containers"][0]["env"]);
            let named = env
                .iter()
                .find(|v| v["name"] == "MERCATO_POD_NAME")
                .and_then(|v| v["value"].as_str());
            if named != Some(pod.name.as_str()) {
                problems.push(format!(
                    "{}: MERCATO_POD_NAME is {named:?}, not {}",
                    id(set),
                    pod.name
                ));
            }
        }
    }
    let names: BTreeSet<&str> = declared.iter().map(|p| p.name.as_str()).collect();
    for ((comp, pod), found) in &sets {
        if comp.starts_with("pod") && !names.contains(pod.as_str()) {
            for set in found {
                problems.push(format!(
                    "{}: for pod {pod}, which the values do not declare",
                    id(set)
                ));
            }
        }
    }
    problems
}

/// Whether `selector` (a podSelector) selects pods labelled `labels`.
fn selects(selector: &Value, labels: &Value) -> Result<bool, String> {
    if !selector["matchExpressions"].is_null() {
        return Err("matchExpressions are not checked here".into());
    }
    Ok(selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels[k] == *v)))
}

fn check_network_policies(docs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let rendered: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| pod_template(d).map(|(meta, _)| component(&meta["labels"])))
        .collect();
    let mut allowed = BTreeSet::from(["router", "control-plane"]);
    if rendered.contains("test-gateway") {
        // The test gateway posts payment webhooks to the pods.
        allowed.insert("test-gateway");
    }
    let policies: Vec<&Value> = docs.iter().filter(|d| kind(d) == "NetworkPolicy").collect();
    for doc in docs.iter().filter(|d| kind(d) == "StatefulSet") {
        let labels = &doc["spec"]["template"]["metadata"]["labels"];
        if component(labels) != "pod" {
            continue;
        }
        let mut selecting = Vec::new();
        for policy in &policies {
            match selects(&policy["spec"]["podSelector"], labels) {
                Ok(true) => selecting.push(*policy),
                Ok(false) => {}
                Err(e) => problems.push(format!("{}: {e}", id(policy))),
            }
        }
        if selecting.is_empty() {
            problems.push(format!("{}: no NetworkPolicy selects it", id(doc)));
        }
        let mut from: BTreeSet<String> = BTreeSet::new();
        for policy in selecting {
            let at = id(policy);
            if !items(&policy["spec"]["policyTypes"]).contains(&json!("Ingress")) {
                problems.push(format!("{at}: policyTypes lacks Ingress"));
            }
            for rule in items(&policy["spec"]["ingress"]) {
                let peers = items(&rule["from"]);
                if peers.is_empty() {
                    problems.push(format!("{at}: an ingress rule from anywhere"));
                }
                for peer in peers {
                    let keys: Vec<&String> = peer
                        .as_object()
                        .map(|m| m.keys().collect())
                        .unwrap_or_default();
                    let pods = &peer["podSelector"]["matchLabels"];
                    let comp = component(pods);
                    if keys != ["podSelector"]
                        || !peer["podSelector"]["matchExpressions"].is_null()
                        || label(pods, "app.kubernetes.io/instance") != RELEASE
                        || !allowed.contains(comp)
                    {
                        problems.push(format!("{at}: lets in {peer}"));
                    } else {
                        from.insert(comp.to_owned());
                    }
                }
            }
        }
        for needed in ["router", "control-plane"] {
            if !from.contains(needed) {
                problems.push(format!("{}: the {needed} cannot reach it", id(doc)));
            }
        }
    }
    problems
}

fn check_prometheus(docs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for doc in docs.iter().filter(|d| long_running(d)) {
        let Some((meta, spec)) = pod_template(doc) else {
            continue;
        };
        for c in items(&spec["containers"]) {
            if mercato_process(c).is_none() {
                continue;
            }
            let port = items(&c["ports"])
                .iter()
                .find(|p| p["name"] == "http")
                .and_then(|p| p["containerPort"].as_i64());
            let Some(port) = port else {
                problems.push(format!("{}: no http port", id(doc)));
                continue;
            };
            let annotations = &meta["annotations"];
            let port = port.to_string();
            for (key, want) in [
                ("prometheus.io/scrape", "true"),
                ("prometheus.io/path", "/metrics"),
                ("prometheus.io/port", port.as_str()),
            ] {
                if annotations[key].as_str() != Some(want) {
                    problems.push(format!(
                        "{}: annotation {key} is {}, not {want}",
                        id(doc),
                        annotations[key]
                    ));
                }
            }
        }
    }
    problems
}

/// A small YAML reader for what Helm prints and what the values files hold:
/// block mappings and sequences (a sequence may sit at its key's
/// indentation), plain, quoted and literal block scalars, and flow
/// collections on one line. Anchors, aliases, tags, folded scalars,
/// multi-line plain or quoted scalars and tabs are refused.
mod yaml {
    use serde_json::{Map, Number, Value};

    /// The documents of a `---`-separated stream, empty ones left out.
    pub fn documents(text: &str) -> Result<Vec<Value>, String> {
        let mut docs = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            if line.trim_end() == "---" {
                push(&mut docs, &current)?;
                current.clear();
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        push(&mut docs, &current)?;
        Ok(docs)
    }

    fn push(docs: &mut Vec<Value>, text: &str) -> Result<(), String> {
        let doc = parse(text)?;
        if !doc.is_null() {
            docs.push(doc);
        }
        Ok(())
    }

    /// One document.
    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            lines: text.lines().map(str::to_owned).collect(),
            pos: 0,
        };
        if p.lines.iter().any(|l| l.starts_with('\t')) {
            return Err("tabs in indentation".into());
        }
        p.skip();
        if p.done() {
            return Ok(Value::Null);
        }
        let indent = p.indent();
        let value = p.block(indent)?;
        p.skip();
        if !p.done() {
            return Err(p.error("more after the document's end"));
        }
        Ok(value)
    }

    struct Parser {
        lines: Vec<String>,
        pos: usize,
    }

    fn is_item(text: &str) -> bool {
        text == "-" || text.starts_with("- ")
    }

    impl Parser {
        fn done(&self) -> bool {
            self.pos >= self.lines.len()
        }

        fn error(&self, what: &str) -> String {
            format!(
                "line {}: {what}: {:?}",
                self.pos + 1,
                self.lines.get(self.pos).map_or("", String::as_str)
            )
        }

        /// Past blank lines and comments.
        fn skip(&mut self) {
            while let Some(line) = self.lines.get(self.pos) {
                let text = line.trim_start_matches(' ');
                if text.is_empty() || text.starts_with('#') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }

        fn indent(&self) -> usize {
            let line = &self.lines[self.pos];
            line.len() - line.trim_start_matches(' ').len()
        }

        fn text(&self) -> String {
            self.lines[self.pos].trim_start_matches(' ').to_owned()
        }

        fn block(&mut self, indent: usize) -> Result<Value, String> {
            if is_item(&self.text()) {
                self.sequence(indent)
            } else {
                self.mapping(indent)
            }
        }

        fn sequence(&mut self, indent: usize) -> Result<Value, String> {
            let mut items = Vec::new();
            loop {
                self.skip();
                if self.done() {
                    break;
                }
                let at = self.indent();
                let text = self.text();
                if at < indent || (at == indent && !is_item(&text)) {
                    break;
                }
                if at > indent {
                    return Err(self.error("unexpected indentation"));
                }
                let rest = text[1..].trim_start_matches(' ');
                let column = indent + text.len() - rest.len();
                if rest.is_empty() || rest.starts_with('#') {
                    self.pos += 1;
                    items.push(self.nested(indent, false)?);
                } else if is_item(rest) || split_key(rest)?.is_some() {
                    // The item's content starts a block at its column.
                    self.lines[self.pos] = format!("{}{rest}", " ".repeat(column));
                    items.push(self.block(column)?);
                } else {
                    items.push(self.inline(rest, indent)?);
                }
            }
            Ok(Value::Array(items))
        }

        fn mapping(&mut self, indent: usize) -> Result<Value, String> {
            let mut map = Map::new();
            loop {
                self.skip();
                if self.done() {
                    break;
                }
                let at = self.indent();
                if at < indent {
                    break;
                }
                if at > indent {
                    return Err(self.error("unexpected indentation"));
                }
                let text = self.text();
                if is_item(&text) {
                    return Err(self.error("a sequence item among mapping keys"));
                }
                let Some((key, rest)) = split_key(&text)? else {
                    return Err(self.error("expected `key: value`"));
                };
                let value = if rest.is_empty() || rest.starts_with('#') {
                    self.pos += 1;
                    self.nested(indent, true)?
                } else {
                    self.inline(rest, indent)?
                };
                if map.insert(key.clone(), value).is_some() {
                    return Err(self.error(&format!("the key {key:?} twice")));
                }
            }
            Ok(Value::Object(map))
        }

        /// What follows a `key:` or a `-` with nothing after it on its line.
        fn nested(&mut self, parent: usize, indentless: bool) -> Result<Value, String> {
            self.skip();
            if self.done() {
                return Ok(Value::Null);
            }
            let at = self.indent();
            if at > parent {
                return self.block(at);
            }
            if indentless && at == parent && is_item(&self.text()) {
                return self.sequence(at);
            }
            Ok(Value::Null)
        }

        /// A value on the line of its key or dash; a block scalar takes the
        /// lines after it.
        fn inline(&mut self, rest: &str, parent: usize) -> Result<Value, String> {
            if rest.starts_with('|') || rest.starts_with('>') {
                let header = rest.to_owned();
                self.pos += 1;
                return self.block_scalar(&header, parent);
            }
            let value = scalar(rest).map_err(|e| self.error(&e))?;
            self.pos += 1;
            Ok(value)
        }

        fn block_scalar(&mut self, header: &str, parent: usize) -> Result<Value, String> {
            let header = strip_comment(header);
            let keep = match header {
                "|" => Some(false),
                "|-" => None,
                "|+" => Some(true),
                _ => return Err(self.error(&format!("block scalar {header:?}"))),
            };
            let mut lines: Vec<String> = Vec::new();
            let mut column = None;
            while let Some(line) = self.lines.get(self.pos) {
                let text = line.trim_start_matches(' ');
                let at = line.len() - text.len();
                if text.is_empty() {
                    lines.push(String::new());
                    self.pos += 1;
                    continue;
                }
                let c = match column {
                    Some(c) => c,
                    None if at > parent => {
                        column = Some(at);
                        at
                    }
                    None => break,
                };
                if at < c {
                    break;
                }
                lines.push(line[c..].to_owned());
                self.pos += 1;
            }
            let trailing = lines.iter().rev().take_while(|l| l.is_empty()).count();
            lines.truncate(lines.len() - trailing);
            let mut text = lines.join("\n");
            match keep {
                _ if lines.is_empty() => {}
                None => {}
                Some(false) => text.push('\n'),
                Some(true) => text.push_str(&"\n".repeat(trailing + 1)),
            }
            Ok(Value::String(text))
        }
    }

    fn strip_comment(text: &str) -> &str {
        let text = text.trim();
        match text.find(" #") {
            Some(i) => text[..i].trim_end(),
            None if text.starts_with('#') => "",
            None => text,
        }
    }

    /// `key: rest` (rest may be empty), or None when the line is no
    /// mapping entry.
    fn split_key(text: &str) -> Result<Option<(String, &str)>, String> {
        if text.starts_with('"') || text.starts_with('\'') {
            let (key, after) = quoted(text)?;
            return Ok(after.strip_prefix(':').and_then(|rest| {
                (rest.is_empty() || rest.starts_with(' ')).then(|| (key, rest.trim()))
            }));
        }
        if text.starts_with(['[', '{', '#']) {
            return Ok(None);
        }
        let end = text
            .find(": ")
            .or_else(|| text.ends_with(':').then(|| text.len() - 1));
        Ok(end.map(|i| (text[..i].trim_end().to_owned(), text[i + 1..].trim())))
    }

    fn scalar(text: &str) -> Result<Value, String> {
        let text = text.trim();
        if text.starts_with(['&', '*', '!', '%', '@', '`']) {
            return Err("anchors, aliases, tags and reserved indicators are not read".into());
        }
        let (value, after) = if text.starts_with(['"', '\'']) {
            let (s, after) = quoted(text)?;
            (Value::String(s), after)
        } else if text.starts_with(['[', '{']) {
            flow(text)?
        } else {
            return Ok(plain(strip_comment(text)));
        };
        if !strip_comment(after).is_empty() {
            return Err(format!("text after a value: {after:?}"));
        }
        Ok(value)
    }

    /// A plain scalar: null, a boolean, a number or a string (YAML 1.2).
    fn plain(text: &str) -> Value {
        match text {
            "" | "~" | "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => {
                let numeric = text.bytes().any(|b| b.is_ascii_digit())
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
                if numeric {
                    if let Ok(i) = text.parse::<i64>() {
                        return Value::Number(i.into());
                    }
                    if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                        return Value::Number(n);
                    }
                }
                Value::String(text.to_owned())
            }
        }
    }

    /// A quoted string at the start of `text`, and what follows it.
    fn quoted(text: &str) -> Result<(String, &str), String> {
        let mut out = String::new();
        let mut chars = text.char_indices();
        let Some((_, quote)) = chars.next() else {
            return Err("empty".into());
        };
        while let Some((i, c)) = chars.next() {
            if quote == '\'' {
                if c == '\'' {
                    if text[i + 1..].starts_with('\'') {
                        out.push('\'');
                        chars.next();
                        continue;
                    }
                    return Ok((out, &text[i + 1..]));
                }
                out.push(c);
                continue;
            }
            match c {
                '"' => return Ok((out, &text[i + 1..])),
                '\\' => {
                    let Some((_, e)) = chars.next() else {
                        break;
                    };
                    let hex = |n: usize, chars: &mut std::str::CharIndices| {
                        let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape in {text:?}"))
                    };
                    out.push(match e {
                        '\\' => '\\',
                        '"' => '"',
                        '/' => '/',
                        ' ' => ' ',
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'e' => '\u{1b}',
                        'f' => '\u{c}',
                        'v' => '\u{b}',
                        'N' => '\u{85}',
                        '_' => '\u{a0}',
                        'L' => '\u{2028}',
                        'P' => '\u{2029}',
                        'x' => hex(2, &mut chars)?,
                        'u' => hex(4, &mut chars)?,
                        'U' => hex(8, &mut chars)?,
                        other => return Err(format!("unknown escape \\{other} in {text:?}")),
                    });
                }
                c => out.push(c),
            }
        }
        Err(format!("unterminated string {text:?}"))
    }

    /// A flow collection at the start of `text`, and what follows it.
    fn flow(text: &str) -> Result<(Value, &str), String> {
        let close = if text.starts_with('[') { ']' } else { '}' };
        let mut rest = &text[1..];
        let mut list = Vec::new();
        let mut map = Map::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(close) {
                let value = if close == ']' {
                    Value::Array(list)
                } else {
                    Value::Object(map)
                };
                return Ok((value, after));
            }
            if close == ']' {
                let (value, after) = flow_node(rest)?;
                list.push(value);
                rest = after;
            } else {
                let (key, after) = if rest.starts_with(['"', '\'']) {
                    quoted(rest)?
                } else {
                    let end = rest
                        .find(':')
                        .ok_or_else(|| format!("a flow mapping entry without `:` in {text:?}"))?;
                    (rest[..end].trim().to_owned(), &rest[end..])
                };
                let after = after
                    .trim_start()
                    .strip_prefix(':')
                    .ok_or_else(|| format!("expected `:` in {text:?}"))?;
                let (value, after) = flow_node(after.trim_start())?;
                if map.insert(key.clone(), value).is_some() {
                    return Err(format!("the key {key:?} twice in {text:?}"));
                }
                rest = after;
            }
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with(close) {
                return Err(format!("expected `,` or `{close}` in {text:?}"));
            }
        }
    }

    fn flow_node(text: &str) -> Result<(Value, &str), String> {
        if text.starts_with(['[', '{']) {
            return flow(text);
        }
        if text.starts_with(['"', '\'']) {
            let (s, after) = quoted(text)?;
            return Ok((Value::String(s), after));
        }
        let end = text.find([',', ']', '}']).unwrap_or(text.len());
        Ok((plain(text[..end].trim()), &text[end..]))
    }
}

// The reader and the checks, on small hand-made inputs: each check must be
// able to fail.

fn docs(text: &str) -> Vec<Value> {
    yaml::documents(text).expect("parses")
}

#[test]
fn the_reader_reads_what_helm_prints() {
    let text = r#"
---
# Source: x.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: "a \"b\"\u00e9"
  labels: {a: "1", b: two, c: [x, 'y''s']}
data:
  script: |
    line one
      indented

    last
  stripped: |-
    no newline
  empty: ""
  n: 3
  f: 0.5
  t: true
  s: 0.0.0.0:8080 # a comment
list:
- name: a
  value: "x"
-   - nested
- plain
- -c
- "-c"
after: ~
---
"#;
    let d = docs(text);
    assert_eq!(d.len(), 1);
    let cm = &d[0];
    assert_eq!(cm["metadata"]["name"], "a \"b\"é");
    assert_eq!(
        cm["metadata"]["labels"],
        json!({"a": "1", "b": "two", "c": ["x", "y's"]})
    );
    assert_eq!(cm["data"]["script"], "line one\n  indented\n\nlast\n");
    assert_eq!(cm["data"]["stripped"], "no newline");
    assert_eq!(cm["data"]["empty"], "");
    assert_eq!(cm["data"]["n"], 3);
    assert_eq!(cm["data"]["f"], 0.5);
    assert_eq!(cm["data"]["t"], true);
    assert_eq!(cm["data"]["s"], "0.0.0.0:8080");
    assert_eq!(
        cm["list"],
        json!([{"name": "a", "value": "x"}, ["nested"], "plain", "-c", "-c"])
    );
    assert_eq!(cm["after"], Value::Null);
    // What it does not understand is refused, not guessed.
    for bad in [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: >\n  folded\n",
        "a: 1\n  b: 2\n",
        "a: plain\n  continued\n",
        "a: \"open\n",
        "a: 1\na: 2\n",
        "a:\n\t- b\n",
        "- a\nb: c\n",
    ] {
        assert!(yaml::parse(bad).is_err(), "accepted {bad:?}");
    }
}

/// A commerce pod as the chart renders one, for the checks below.
const GOOD: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: m-pod-1
spec:
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: mercato
        app.kubernetes.io/component: pod
        mercato.dev/pod: pod-1
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "8080"
        prometheus.io/path: /metrics
    spec:
      enableServiceLinks: false
      containers:
        - name: pod
          args: [serve, pod]
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: MERCATO_POD_NAME
              value: pod-1
            - name: POSTGRES_PASSWORD
              valueFrom:
                secretKeyRef: {name: s, key: pod-1-postgres-password}
            - name: MERCATO_POD_DATABASE_URL
              value: "postgres://mercato:$(POSTGRES_PASSWORD)@db:5432/mercato"
          livenessProbe:
            httpGet: {path: /healthz, port: http}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: "1", memory: 256Mi}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: m-pods
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/component: pod
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: mercato
              app.kubernetes.io/component: router
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: mercato
              app.kubernetes.io/component: control-plane
---
apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  pod-1-postgres-password: aHVudGVyMg==
"#;

fn pod_1() -> Vec<DeclaredPod> {
    vec![DeclaredPod {
        name: "pod-1".into(),
        postgres: false,
        redis: false,
    }]
}

const SECRET: (&str, &str) = ("pod-1-postgres-password", "hunter2");

fn secret() -> Vec<(String, String)> {
    vec![(SECRET.0.into(), SECRET.1.into())]
}

/// The problems of GOOD with `from` replaced by `to`.
fn problems_with(from: &str, to: &str, declared: &[DeclaredPod]) -> Vec<String> {
    assert!(GOOD.contains(from), "{from:?} is not in GOOD");
    check_manifests(&docs(&GOOD.replacen(from, to, 1)), declared, &secret())
}

#[test]
fn the_checks_pass_a_good_pod_and_fail_each_fault() {
    assert_eq!(
        check_manifests(&docs(GOOD), &pod_1(), &secret()),
        Vec::<String>::new()
    );
    let faults: &[(&str, &str, &str)] = &[
        (
            "          readinessProbe:\n            httpGet: {path: /readyz, port: http}\n",
            "",
            "has no readinessProbe",
        ),
        ("path: /readyz", "path: /healthz", "readinessProbe is on"),
        (
            "            limits: {cpu: \"1\", memory: 256Mi}\n",
            "",
            "has no limits.cpu",
        ),
        ("enableServiceLinks: false", "enableServiceLinks: true", "enableServiceLinks"),
        (
            "value: \"postgres://mercato:$(POSTGRES_PASSWORD)@db:5432/mercato\"",
            "value: \"postgres://mercato:hunter2@db:5432/mercato\"",
            "holds the secret",
        ),
        (
            "value: \"postgres://mercato:$(POSTGRES_PASSWORD)@db:5432/mercato\"",
            "value: \"postgres://mercato:other@db:5432/mercato\"",
            "sets MERCATO_POD_DATABASE_URL in plain text",
        ),
        ("aHVudGVyMg==", "b3RoZXI=", "no rendered Secret holds"),
        (
            "              app.kubernetes.io/component: router",
            "              app.kubernetes.io/component: mailbox",
            "lets in",
        ),
        (
            "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/instance: mercato\n              app.kubernetes.io/component: router",
            "        - namespaceSelector: {}",
            "lets in",
        ),
        ("app.kubernetes.io/component: pod\n  policyTypes", "app.kubernetes.io/component: other\n  policyTypes", "no NetworkPolicy selects it"),
        ("prometheus.io/scrape: \"true\"", "prometheus.io/scrape: \"false\"", "prometheus.io/scrape"),
        ("prometheus.io/port: \"8080\"", "prometheus.io/port: \"9090\"", "prometheus.io/port"),
        ("value: pod-1", "value: pod-2", "MERCATO_POD_NAME"),
        (
            "- name: MERCATO_POD_NAME",
            "- name: MERCATO_POD_NAMES",
            "MERCATO_POD_NAMES does not name a setting",
        ),
    ];
    for (from, to, expected) in faults {
        let problems = problems_with(from, to, &pod_1());
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "replacing {from:?} by {to:?}: expected {expected:?} among {problems:?}"
        );
    }

    // A rule with no `from` lets everyone in.
    let open = problems_with(
        "    - from:\n        - podSelector:",
        "    - ports: [{port: http}]\n    - from:\n        - podSelector:",
        &pod_1(),
    );
    assert!(open.iter().any(|p| p.contains("from anywhere")), "{open:?}");

    // One StatefulSet per declared pod, and its bundled stores.
    let mut two = pod_1();
    two.push(DeclaredPod {
        name: "pod-2".into(),
        postgres: false,
        redis: false,
    });
    let missing = check_pods(&docs(GOOD), &two);
    assert!(
        missing
            .iter()
            .any(|p| p.contains("pod pod-2: 0 StatefulSets")),
        "{missing:?}"
    );
    let bundled = vec![DeclaredPod {
        postgres: true,
        ..pod_1()[0].clone()
    }];
    let no_db = check_pods(&docs(GOOD), &bundled);
    assert!(
        no_db
            .iter()
            .any(|p| p.contains("0 pod-postgres StatefulSets")),
        "{no_db:?}"
    );
    let first = GOOD.split("---").next().expect("the StatefulSet");
    let twice = docs(&format!("{first}---{first}"));
    let doubled = check_pods(&twice, &pod_1());
    assert!(
        doubled.iter().any(|p| p.contains("2 StatefulSets")),
        "{doubled:?}"
    );
    let undeclared = check_pods(&docs(GOOD), &[]);
    assert!(
        undeclared.iter().any(|p| p.contains("do not declare")),
        "{undeclared:?}"
    );

    // Secrets in a ConfigMap, by value or by setting.
    let config = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  config.toml: |\n    [tokens]\n    signing_key = \"x\"\n";
    let leaked = check_secrets(&docs(&format!("{GOOD}{config}")), &[]);
    assert!(
        leaked.iter().any(|p| p.contains("sets signing_key")),
        "{leaked:?}"
    );

    // Variables the router's config loader would refuse.
    let router = "kind: Deployment\nmetadata:\n  name: r\nspec:\n  template:\n    spec:\n      containers:\n        - name: router\n          args: [serve, router]\n          env:\n            - {name: MERCATO_ROUTER_LIMITS__SHARE, value: \"0.5\"}\n            - {name: MERCATO_ROUTER_WORKERS, value: two}\n            - {name: MERCATO_ROUTER_LIMITS, value: x}\n            - {name: MERCATO_ROUTER_LIMITS__ENABLED, value: \"false\"}\n";
    assert_eq!(
        check_settings(&docs(router)),
        [
            "Deployment/r: MERCATO_ROUTER_LIMITS__SHARE is fractional: a variable cannot set it",
            "Deployment/r: MERCATO_ROUTER_WORKERS=two does not fit the setting's type",
            "Deployment/r: MERCATO_ROUTER_LIMITS does not name a setting",
        ]
    );

    // A Job needs resources but no probes; an init container too.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n      enableServiceLinks: false\n      initContainers:\n        - name: i\n      containers:\n        - name: c\n          resources:\n            requests: {cpu: 1m, memory: 1Mi}\n            limits: {cpu: 1m, memory: 1Mi}\n";
    let problems = check_workloads(&docs(job));
    assert_eq!(
        problems,
        [
            "Job/j: container i has no requests.cpu",
            "Job/j: container i has no requests.memory",
            "Job/j: container i has no limits.cpu",
            "Job/j: container i has no limits.memory",
        ]
    );
}
