//! The token keys of a platform on one machine: one signing key per issuer
//! (the control plane's for operator and service tokens, the pods' for
//! store sessions), and the configuration each process gets from them.
//! The router gets public keys only.

use std::path::Path;

use mercato_tenants::{Claims, Party, Role, SigningKey, TokenConfig, TokenError};

/// A local platform's signing keys.
#[derive(Clone, Debug)]
pub struct PlatformKeys {
    pub control_plane: SigningKey,
    control_plane_text: String,
    pub pods: SigningKey,
    pods_text: String,
}

impl PlatformKeys {
    /// New random keys (tests, benchmarks).
    pub fn generate() -> anyhow::Result<Self> {
        let (control_plane, control_plane_text) =
            SigningKey::generate(Party::ControlPlane, "local-cp-1")?;
        let (pods, pods_text) = SigningKey::generate(Party::Pods, "local-pods-1")?;
        Ok(Self {
            control_plane,
            control_plane_text,
            pods,
            pods_text,
        })
    }

    /// The keys kept in `data` (`control-plane.key`, `pods.key`, mode
    /// `0600`), made the first time.
    pub fn load(data: &Path) -> anyhow::Result<Self> {
        let (control_plane, control_plane_text) =
            stored_key(data, "control-plane.key", Party::ControlPlane, "local-cp-1")?;
        let (pods, pods_text) = stored_key(data, "pods.key", Party::Pods, "local-pods-1")?;
        Ok(Self {
            control_plane,
            control_plane_text,
            pods,
            pods_text,
        })
    }

    /// The trusted-key entries of both keys.
    pub fn trusted(&self) -> String {
        format!(
            "{},{}",
            self.control_plane.public_entry(),
            self.pods.public_entry()
        )
    }

    /// A pod's `tokens`: it signs with the pods' key, trusts both.
    pub fn pod_tokens(&self) -> TokenConfig {
        TokenConfig {
            signing_key: self.pods_text.clone(),
            trusted_keys: self.trusted(),
        }
    }

    /// The control plane's `tokens`: it signs with its own key.
    pub fn control_plane_tokens(&self) -> TokenConfig {
        TokenConfig {
            signing_key: self.control_plane_text.clone(),
            trusted_keys: String::new(),
        }
    }

    /// A router's `tokens`: public keys only.
    pub fn router_tokens(&self) -> TokenConfig {
        TokenConfig {
            signing_key: String::new(),
            trusted_keys: self.trusted(),
        }
    }

    /// The secret form of the control plane's key (MERCATO_SIGNING_KEY).
    pub fn control_plane_secret(&self) -> &str {
        &self.control_plane_text
    }

    /// `claims` signed by the party that owns their role.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = match claims.role {
            Role::Operator | Role::Service => &self.control_plane,
            Role::Staff | Role::Customer => &self.pods,
        };
        key.sign(claims)
    }

    /// The routing-feed token of a router, valid for `ttl_secs`.
    pub fn router_token(&self, ttl_secs: i64) -> Result<String, TokenError> {
        self.issue(
            &Claims::new("router", Role::Service, None, now(), ttl_secs)
                .for_audience(&[Party::ControlPlane]),
        )
    }

    /// An operator token valid for `ttl_secs`.
    pub fn operator_token(&self, subject: &str, ttl_secs: i64) -> Result<String, TokenError> {
        self.issue(&Claims::new(subject, Role::Operator, None, now(), ttl_secs))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The signing key of `party` kept in `data/<file>`, made the first time.
fn stored_key(
    data: &Path,
    file: &str,
    party: Party,
    kid: &str,
) -> anyhow::Result<(SigningKey, String)> {
    let path = data.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(key) = SigningKey::parse(text.trim()) {
            if key.party() == party {
                return Ok((key, text.trim().to_owned()));
            }
        }
    }
    let (key, text) = SigningKey::generate(party, kid)?;
    crate::local::write_private(&path, &text)?;
    Ok((key, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_and_reused() {
        let dir = std::env::temp_dir().join(format!("mercato-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = PlatformKeys::load(&dir).expect("made");
        let again = PlatformKeys::load(&dir).expect("read");
        assert_eq!(first.trusted(), again.trusted());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("pods.key"))
                .expect("kept")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(first.router_tokens().signing_key.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
