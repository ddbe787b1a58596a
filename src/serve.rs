//! `mercato serve <process>`: one process, configured from defaults, an
//! optional TOML file and `MERCATO_<PROCESS>_*` variables; and
//! `mercato gateway`, the test payment gateway, and `mercato mailbox`, the
//! development mail sink. Each serves until Ctrl-C or
//! SIGTERM.

use std::future::Future;
use std::path::Path;

use anyhow::bail;
use mercato_tenants::{Claims, Party, Role, SigningKey, TelemetryConfig, TokenConfig};

use crate::{config, telemetry};

/// The control plane's signing key used when `--dev` is given and none is
/// set. Public in this source file: never for a deployment.
const DEV_CONTROL_PLANE_KEY: &str =
    "control-plane:dev-cp:MC4CAQAwBQYDK2VwBCIEIEMn/C/2mSIqCS8Q4su0BCi4Q4bMCVGCpejB3YZ92tNx";
/// The pods' signing key used when `--dev` is given and none is set.
const DEV_PODS_KEY: &str =
    "pods:dev-pods:MC4CAQAwBQYDK2VwBCIEIAdBugNm8Y2W+kovFLIJMp9xjI69f+X9bo73xg+48TD5";
/// The router → pod hop key used when `--dev` is given and none is set.
const DEV_HOP_SECRET: &str = "mercato-dev-hop-key-not-for-production-use!";
/// Lifetime of the routing-feed token a `--dev` router signs for itself.
const DEV_ROUTER_TOKEN_TTL_SECS: i64 = 365 * 86_400;

/// The public entry of one of the built-in development keys.
fn dev_public(key: &str) -> anyhow::Result<String> {
    Ok(SigningKey::parse(key)?.public_entry())
}

/// With `dev`, fills what a development setup leaves out of `tokens`: the
/// signing key `signing` (if the process signs) and trust in `trusted`.
fn dev_tokens(
    tokens: &mut TokenConfig,
    process: &str,
    dev: bool,
    signing: Option<&str>,
    trusted: &[&str],
) -> anyhow::Result<()> {
    if !dev {
        return Ok(());
    }
    if let Some(key) = signing.filter(|_| tokens.signing_key.is_empty()) {
        tracing::warn!("{process}: no tokens.signing_key: using the built-in development key");
        tokens.signing_key = key.to_owned();
    }
    if tokens.trusted_keys.is_empty() {
        let entries: anyhow::Result<Vec<String>> = trusted.iter().map(|k| dev_public(k)).collect();
        tokens.trusted_keys = entries?.join(",");
    }
    Ok(())
}

fn check_key(secret: &mut String, var: &str, dev: bool, dev_value: &str) -> anyhow::Result<()> {
    if secret.len() >= 32 {
        return Ok(());
    }
    if dev {
        if secret.is_empty() {
            tracing::warn!("{var} is not set: using the built-in development value");
            *secret = dev_value.to_owned();
        }
        return Ok(());
    }
    bail!("{var} must be at least 32 characters (or pass --dev for a local development setup)")
}

const ROUTER_SERVICE: &str = "mercato-router";

/// Runs `serve` with the process's logs and traces set up (`service` is
/// its `service.name`), then flushes the spans still batched.
async fn traced(
    service: &'static str,
    config: &TelemetryConfig,
    serve: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let telemetry = if service == ROUTER_SERVICE {
        telemetry::init_edge(service, config)?
    } else {
        telemetry::init(service, config)?
    };
    let served = serve.await;
    telemetry.shutdown().await;
    served
}

pub async fn pod(file: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let cfg: mercato_pod::PodConfig = config::load(file, "MERCATO_POD_")?;
    let telemetry = cfg.telemetry.clone();
    traced("mercato-pod", &telemetry, serve_pod(cfg, dev)).await
}

async fn serve_pod(mut cfg: mercato_pod::PodConfig, dev: bool) -> anyhow::Result<()> {
    dev_tokens(
        &mut cfg.tokens,
        "pod",
        dev,
        Some(DEV_PODS_KEY),
        &[DEV_CONTROL_PLANE_KEY],
    )?;
    check_key(
        &mut cfg.hop_secret,
        "MERCATO_POD_HOP_SECRET",
        dev,
        DEV_HOP_SECRET,
    )?;
    if cfg.gateway.uses_dev_keys() {
        if !dev {
            bail!(
                "MERCATO_POD_GATEWAY__API_KEY and MERCATO_POD_GATEWAY__WEBHOOK_SECRET are the built-in \
                 development values; set real ones (or pass --dev for a local setup)"
            );
        }
        tracing::warn!("using the built-in development payment gateway keys");
    }
    mercato_pod::Application::build(cfg)
        .await?
        .run_until(shutdown_signal())
        .await
}

pub async fn control_plane(file: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let cfg: mercato_control_plane::ControlPlaneConfig =
        config::load(file, "MERCATO_CONTROL_PLANE_")?;
    let telemetry = cfg.telemetry.clone();
    traced(
        "mercato-control-plane",
        &telemetry,
        serve_control_plane(cfg, dev),
    )
    .await
}

async fn serve_control_plane(
    mut cfg: mercato_control_plane::ControlPlaneConfig,
    dev: bool,
) -> anyhow::Result<()> {
    dev_tokens(
        &mut cfg.tokens,
        "control plane",
        dev,
        Some(DEV_CONTROL_PLANE_KEY),
        &[],
    )?;
    mercato_control_plane::Application::build(cfg)
        .await?
        .run_until(shutdown_signal())
        .await
}

pub async fn router(file: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let cfg: mercato_router::RouterConfig = config::load(file, "MERCATO_ROUTER_")?;
    let telemetry = cfg.telemetry.clone();
    traced(ROUTER_SERVICE, &telemetry, serve_router(cfg, dev)).await
}

async fn serve_router(mut cfg: mercato_router::RouterConfig, dev: bool) -> anyhow::Result<()> {
    dev_tokens(
        &mut cfg.tokens,
        "router",
        dev,
        None,
        &[DEV_CONTROL_PLANE_KEY, DEV_PODS_KEY],
    )?;
    if dev && cfg.control_plane_token.is_empty() {
        tracing::warn!(
            "router: no control_plane_token: signing one with the built-in development key"
        );
        let claims = Claims::new(
            "router",
            Role::Service,
            None,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
            DEV_ROUTER_TOKEN_TTL_SECS,
        )
        .for_audience(&[Party::ControlPlane]);
        cfg.control_plane_token = SigningKey::parse(DEV_CONTROL_PLANE_KEY)?.sign(&claims)?;
    }
    check_key(
        &mut cfg.hop_secret,
        "MERCATO_ROUTER_HOP_SECRET",
        dev,
        DEV_HOP_SECRET,
    )?;
    mercato_router::Application::build(cfg)
        .await?
        .run_until(shutdown_signal())
        .await
}

/// `mercato gateway`: the test payment gateway (flags or
/// `MERCATO_GATEWAY_*`).
pub async fn gateway(args: mercato_gateway::GatewayArgs) -> anyhow::Result<()> {
    let telemetry = TelemetryConfig {
        otlp_endpoint: args.otlp_endpoint.clone(),
    };
    traced("mercato-gateway", &telemetry, async {
        mercato_gateway::GatewayServer::bind(args)
            .await?
            .run_until(shutdown_signal())
            .await
    })
    .await
}

/// `mercato mailbox`: the development mail sink (flags or
/// `MERCATO_MAILBOX_*`).
pub async fn mailbox(args: mercato_mailbox::MailboxArgs) -> anyhow::Result<()> {
    traced("mercato-mailbox", &TelemetryConfig::default(), async {
        mercato_mailbox::MailboxServer::bind(args)
            .await?
            .run_until(shutdown_signal())
            .await
    })
    .await
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_hop_keys_need_dev() {
        let mut s = String::from("short");
        assert!(check_key(&mut s, "X", false, DEV_HOP_SECRET).is_err());
        let mut empty = String::new();
        assert!(check_key(&mut empty, "X", true, DEV_HOP_SECRET).is_ok());
        assert_eq!(empty, DEV_HOP_SECRET);
        let mut strong = "x".repeat(32);
        assert!(check_key(&mut strong, "X", false, DEV_HOP_SECRET).is_ok());
    }

    #[test]
    fn dev_keys_let_the_processes_trust_each_other() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let mut pod = TokenConfig::default();
        dev_tokens(
            &mut pod,
            "pod",
            true,
            Some(DEV_PODS_KEY),
            &[DEV_CONTROL_PLANE_KEY],
        )
        .expect("dev");
        let pod = mercato_tenants::TokenKeys::from_config(&pod, Party::Pods, Some(Party::Pods))
            .expect("pod keys");
        let operator = SigningKey::parse(DEV_CONTROL_PLANE_KEY)
            .expect("parses")
            .sign(&Claims::new("o", Role::Operator, None, now, 60))
            .expect("signs");
        assert!(pod.verify(&operator).is_ok());
        // Without --dev nothing is filled in.
        let mut prod = TokenConfig::default();
        dev_tokens(
            &mut prod,
            "pod",
            false,
            Some(DEV_PODS_KEY),
            &[DEV_CONTROL_PLANE_KEY],
        )
        .expect("no-op");
        assert_eq!(prod, TokenConfig::default());
    }
}
