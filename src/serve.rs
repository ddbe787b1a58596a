//! `mercato serve <process>`: one process, configured from defaults, an
//! optional TOML file and `MERCATO_<PROCESS>_*` variables; and
//! `mercato gateway`, the test payment gateway. Each serves until Ctrl-C or
//! SIGTERM.

use std::path::Path;

use anyhow::bail;

use crate::config;

/// The signing secret used when `--dev` is given and none is set.
const DEV_SECRET: &str = "mercato-dev-secret-not-for-production-use!";
/// The router → pod hop key used when `--dev` is given and none is set.
const DEV_HOP_SECRET: &str = "mercato-dev-hop-key-not-for-production-use!";

/// Refuses a weak signing secret unless `dev` says it is fine.
fn check_secret(secret: &mut String, var: &str, dev: bool) -> anyhow::Result<()> {
    check_key(secret, var, dev, DEV_SECRET)
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

pub async fn pod(file: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let mut cfg: mercato_pod::PodConfig = config::load(file, "MERCATO_POD_")?;
    check_secret(&mut cfg.jwt_secret, "MERCATO_POD_JWT_SECRET", dev)?;
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
    let mut cfg: mercato_control_plane::ControlPlaneConfig =
        config::load(file, "MERCATO_CONTROL_PLANE_")?;
    check_secret(&mut cfg.jwt_secret, "MERCATO_CONTROL_PLANE_JWT_SECRET", dev)?;
    mercato_control_plane::Application::build(cfg)
        .await?
        .run_until(shutdown_signal())
        .await
}

pub async fn router(file: Option<&Path>, dev: bool) -> anyhow::Result<()> {
    let mut cfg: mercato_router::RouterConfig = config::load(file, "MERCATO_ROUTER_")?;
    check_secret(&mut cfg.jwt_secret, "MERCATO_ROUTER_JWT_SECRET", dev)?;
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
    mercato_gateway::GatewayServer::bind(args)
        .await?
        .run_until(shutdown_signal())
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
    fn weak_secrets_need_dev() {
        let mut s = String::from("short");
        assert!(check_secret(&mut s, "X", false).is_err());
        let mut empty = String::new();
        assert!(check_secret(&mut empty, "X", true).is_ok());
        assert_eq!(empty, DEV_SECRET);
        let mut strong = "x".repeat(32);
        assert!(check_secret(&mut strong, "X", false).is_ok());
    }
}
