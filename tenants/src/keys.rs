//! The keys that sign and verify tokens, one set per issuer.
//!
//! Tokens are Ed25519 signatures (JWT `EdDSA`). Each [`Party`] signs with
//! its own private key and only the roles it owns ([`Party::signs`]): the
//! control plane signs operator and service tokens, the pods sign their
//! stores' staff and customer sessions. Everyone else holds public keys
//! only, so the internet-facing router, which verifies tokens but signs
//! none, cannot make one; and no pod can make an operator.
//!
//! A key has a key id (`kid`, in each token's header). A verifier trusts a
//! list of public keys, each named `party:kid:key`; rotating a key means
//! trusting the new one everywhere, then signing with it, then dropping
//! the old one once its last token has expired (docs/operations.md).
//!
//! Text forms, as configuration holds them:
//! - a signing key: `party:kid:<base64 of the PKCS#8 document>` (secret);
//! - a trusted key: `party:kid:<base64url of the 32-byte public key>`, and a
//!   list of them separated by commas or white space.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

use crate::claims::{Claims, Party};

/// Seconds of clock difference between processes that a token's `exp`
/// and `iat` tolerate.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("a token cannot be signed: {0}")]
    Signing(String),
}

/// A key given in configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

fn key_error(what: impl Into<String>) -> KeyError {
    KeyError(what.into())
}

/// Splits `party:kid:material`, checking the party and the key id.
fn split_entry(text: &str) -> Result<(Party, &str, &str), KeyError> {
    let mut parts = text.trim().splitn(3, ':');
    let (Some(party), Some(kid), Some(material)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(key_error("a key must read party:kid:key"));
    };
    let party = Party::parse(party).ok_or_else(|| {
        key_error(format!(
            "unknown key party {party:?} (control-plane or pods)"
        ))
    })?;
    let kid_ok = !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !kid_ok {
        return Err(key_error(
            "a key id is 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok((party, kid, material))
}

/// One party's private key.
#[derive(Clone)]
pub struct SigningKey {
    party: Party,
    kid: String,
    encoding: EncodingKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}:{})", self.party.as_str(), self.kid)
    }
}

impl SigningKey {
    /// Parses the text form `party:kid:<base64 PKCS#8>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (party, kid, material) = split_entry(text)?;
        let der = STANDARD
            .decode(material.trim())
            .map_err(|_| key_error("a signing key's material must be base64"))?;
        Self::from_pkcs8(party, kid, &der)
    }

    fn from_pkcs8(party: Party, kid: &str, der: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| key_error("a signing key must be an Ed25519 PKCS#8 document"))?;
        Ok(Self {
            party,
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(der),
            public: pair.public_key().as_ref().to_vec(),
        })
    }

    /// A new random key for `party`, with its text form (a secret: keep it
    /// `0600`).
    pub fn generate(party: Party, kid: &str) -> Result<(Self, String), KeyError> {
        let der = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| key_error("no randomness for a new key"))?;
        let text = format!("{}:{kid}:{}", party.as_str(), STANDARD.encode(der.as_ref()));
        let key = Self::parse(&text)?;
        Ok((key, text))
    }

    pub fn party(&self) -> Party {
        self.party
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The trusted-key entry that verifies this key's tokens.
    pub fn public_entry(&self) -> String {
        format!(
            "{}:{}:{}",
            self.party.as_str(),
            self.kid,
            URL_SAFE_NO_PAD.encode(&self.public)
        )
    }

    /// Signs `claims` as this key's party. Refuses a role the party does
    /// not own and a token nobody could accept.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        if !self.party.signs(claims.role) {
            return Err(TokenError::Signing(format!(
                "a {} key does not sign {:?} tokens",
                self.party.as_str(),
                claims.role
            )));
        }
        if claims.aud.is_empty() {
            return Err(TokenError::Signing("a token needs an audience".into()));
        }
        let mut claims = claims.clone();
        claims.iss = Some(self.party);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}

/// The public keys one process accepts tokens from, and the audience it
/// is (a token not meant for it is refused).
#[derive(Clone)]
pub struct KeyRing {
    audience: Party,
    keys: HashMap<String, (Party, DecodingKey)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing")
            .field("audience", &self.audience)
            .field("kids", &kids)
            .finish()
    }
}

impl KeyRing {
    /// A ring for `audience` trusting `entries` (`party:kid:key`, separated
    /// by commas or white space).
    pub fn parse(audience: Party, entries: &str) -> Result<Self, KeyError> {
        let mut ring = Self {
            audience,
            keys: HashMap::new(),
        };
        for entry in entries
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            ring.trust(entry)?;
        }
        Ok(ring)
    }

    /// Trusts one more public key. Two keys may not share a key id.
    pub fn trust(&mut self, entry: &str) -> Result<(), KeyError> {
        let (party, kid, material) = split_entry(entry)?;
        let public = URL_SAFE_NO_PAD
            .decode(material.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| key_error("a trusted key is 32 bytes in base64url"))?;
        match self.keys.get(kid) {
            Some((p, _)) if *p != party => Err(key_error(format!(
                "key id {kid:?} is trusted twice, for two parties"
            ))),
            _ => {
                self.keys
                    .insert(kid.to_owned(), (party, DecodingKey::from_ed_der(&public)));
                Ok(())
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The claims of `token` if a trusted key of the party named in it
    /// signed it, for a role that party signs, meant for this audience and
    /// not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let (party, key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[party.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if !party.signs(claims.role) {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

/// What a process configures about tokens (a `tokens` section).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// This process's private key, `party:kid:<base64 PKCS#8>`; empty for
    /// a process that signs nothing (the router). `mercato keys` makes one.
    pub signing_key: String,
    /// The public keys accepted, `party:kid:<base64url>` separated by
    /// commas. The signing key's own public key is always accepted.
    pub trusted_keys: String,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signing = match split_entry(&self.signing_key) {
            Ok((party, kid, _)) => format!("{}:{kid}:<redacted>", party.as_str()),
            Err(_) if self.signing_key.is_empty() => String::new(),
            Err(_) => "<malformed>".into(),
        };
        f.debug_struct("TokenConfig")
            .field("signing_key", &signing)
            .field("trusted_keys", &self.trusted_keys)
            .finish()
    }
}

/// A process's signing key, if it has one, and its key ring.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    signer: Option<SigningKey>,
    ring: KeyRing,
}

impl TokenKeys {
    /// Keys from configuration for a process that is `audience` and signs
    /// as `signs` (None: it signs nothing). Refuses a signing key of
    /// another party, a missing one, and a ring with no key at all.
    pub fn from_config(
        config: &TokenConfig,
        audience: Party,
        signs: Option<Party>,
    ) -> Result<Self, KeyError> {
        let signer = match (signs, config.signing_key.trim()) {
            (None, "") => None,
            (None, _) => {
                return Err(key_error(
                    "this process signs no tokens: leave signing_key empty",
                ))
            }
            (Some(party), "") => {
                return Err(key_error(format!(
                    "signing_key must be set (a {} key; `mercato keys` makes one)",
                    party.as_str()
                )))
            }
            (Some(party), text) => {
                let key = SigningKey::parse(text)?;
                if key.party != party {
                    return Err(key_error(format!(
                        "signing_key must be a {} key",
                        party.as_str()
                    )));
                }
                Some(key)
            }
        };
        let ring = KeyRing::parse(audience, &config.trusted_keys)?;
        Self::new(signer, ring)
    }

    /// `signer` (whose own public key joins the ring) and `ring`.
    pub fn new(signer: Option<SigningKey>, mut ring: KeyRing) -> Result<Self, KeyError> {
        if let Some(key) = &signer {
            ring.trust(&key.public_entry())?;
        }
        if ring.is_empty() {
            return Err(key_error("trusted_keys must name at least one key"));
        }
        Ok(Self { signer, ring })
    }

    /// Signs `claims` with this process's key.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        self.signer
            .as_ref()
            .ok_or_else(|| TokenError::Signing("this process signs no tokens".into()))?
            .sign(claims)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.ring.verify(token)
    }

    pub fn signer(&self) -> Option<&SigningKey> {
        self.signer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Role;
    use crate::{SessionId, StoreId};

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(1_900_000_000)
    }

    fn key(party: Party, kid: &str) -> SigningKey {
        SigningKey::generate(party, kid).expect("generates").0
    }

    fn ring(audience: Party, keys: &[&SigningKey]) -> KeyRing {
        let entries: Vec<String> = keys.iter().map(|k| k.public_entry()).collect();
        KeyRing::parse(audience, &entries.join(",")).expect("parses")
    }

    #[test]
    fn tokens_round_trip_and_reject_other_keys() {
        let pods = key(Party::Pods, "pods-1");
        let other = key(Party::Pods, "pods-1");
        let store = StoreId::new();
        let claims = Claims::new("alice", Role::Staff, Some(store), now(), 3600)
            .with_session(SessionId::new());
        let token = pods.sign(&claims).expect("signs");
        let verified = ring(Party::Pods, &[&pods]).verify(&token).expect("valid");
        assert_eq!(verified.iss, Some(Party::Pods));
        assert_eq!(
            Claims {
                iss: None,
                ..verified
            },
            claims
        );
        // Same key id, another key: the signature does not verify.
        assert_eq!(
            ring(Party::Pods, &[&other]).verify(&token),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            ring(Party::Pods, &[&pods]).verify("garbage"),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn each_party_signs_only_its_own_roles() {
        let pods = key(Party::Pods, "pods-1");
        let cp = key(Party::ControlPlane, "cp-1");
        let op = Claims::new("o", Role::Operator, None, now(), 60);
        assert!(matches!(pods.sign(&op), Err(TokenError::Signing(_))));
        assert!(cp.sign(&op).is_ok());
        let staff = Claims::new("s", Role::Staff, Some(StoreId::new()), now(), 60);
        assert!(matches!(cp.sign(&staff), Err(TokenError::Signing(_))));
        // A pod's key forging an operator token by hand is still refused.
        let mut forged = op.clone();
        forged.iss = Some(Party::Pods);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("pods-1".into());
        let token = jsonwebtoken::encode(&header, &forged, &pods.encoding).expect("encodes");
        assert_eq!(
            ring(Party::Pods, &[&pods, &cp]).verify(&token),
            Err(TokenError::Invalid)
        );
        // ...and so is one claiming the control plane as issuer.
        forged.iss = Some(Party::ControlPlane);
        let token = jsonwebtoken::encode(&header, &forged, &pods.encoding).expect("encodes");
        assert_eq!(
            ring(Party::Pods, &[&pods, &cp]).verify(&token),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_is_accepted_only_by_its_audience() {
        let cp = key(Party::ControlPlane, "cp-1");
        let router_token = cp
            .sign(
                &Claims::new("router", Role::Service, None, now(), 60)
                    .for_audience(&[Party::ControlPlane]),
            )
            .expect("signs");
        assert!(ring(Party::ControlPlane, &[&cp])
            .verify(&router_token)
            .is_ok());
        assert_eq!(
            ring(Party::Pods, &[&cp]).verify(&router_token),
            Err(TokenError::Invalid)
        );
        let operator = cp
            .sign(&Claims::new("o", Role::Operator, None, now(), 60))
            .expect("signs");
        assert!(ring(Party::Pods, &[&cp]).verify(&operator).is_ok());
        assert!(ring(Party::ControlPlane, &[&cp]).verify(&operator).is_ok());
    }

    #[test]
    fn rotation_overlaps_by_key_id() {
        let old = key(Party::ControlPlane, "cp-2026-11");
        let new = key(Party::ControlPlane, "cp-2026-12");
        let claims = Claims::new("o", Role::Operator, None, now(), 60);
        let (old_token, new_token) = (
            old.sign(&claims).expect("signs"),
            new.sign(&claims).expect("signs"),
        );
        let both = ring(Party::Pods, &[&old, &new]);
        assert!(both.verify(&old_token).is_ok() && both.verify(&new_token).is_ok());
        let after = ring(Party::Pods, &[&new]);
        assert_eq!(after.verify(&old_token), Err(TokenError::Invalid));
        assert!(after.verify(&new_token).is_ok());
    }

    #[test]
    fn other_algorithms_and_missing_key_ids_are_refused() {
        let cp = key(Party::ControlPlane, "cp-1");
        let claims = Claims::new("o", Role::Operator, None, now(), 60);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("cp-1".into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(cp.public_entry().as_bytes()),
        )
        .expect("encodes");
        let r = ring(Party::Pods, &[&cp]);
        assert_eq!(r.verify(&hs), Err(TokenError::Invalid));
        let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &cp.encoding)
            .expect("encodes");
        assert_eq!(r.verify(&no_kid), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let cp = key(Party::ControlPlane, "cp-1");
        let token = cp
            .sign(&Claims::new("bob", Role::Operator, None, now() - 7200, 60))
            .expect("signs");
        assert_eq!(
            ring(Party::Pods, &[&cp]).verify(&token),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn text_forms_parse_and_bad_ones_are_refused() {
        let (k, text) = SigningKey::generate(Party::Pods, "pods.1").expect("generates");
        let again = SigningKey::parse(&text).expect("parses");
        assert_eq!(again.public_entry(), k.public_entry());
        for bad in [
            "",
            "pods:k",
            "nobody:k:AAAA",
            "pods::AAAA",
            "pods:k k:AAAA",
            "pods:k:not base64!",
            "pods:k:AAAA",
        ] {
            assert!(SigningKey::parse(bad).is_err(), "{bad:?}");
            assert!(KeyRing::parse(Party::Pods, bad).is_err() || bad.is_empty());
        }
        let config = TokenConfig {
            signing_key: text.clone(),
            trusted_keys: String::new(),
        };
        let keys = TokenKeys::from_config(&config, Party::Pods, Some(Party::Pods)).expect("ok");
        let token = keys
            .issue(&Claims::new(
                "c",
                Role::Customer,
                Some(StoreId::new()),
                now(),
                60,
            ))
            .expect("signs");
        assert!(keys.verify(&token).is_ok());
        assert!(TokenKeys::from_config(&config, Party::Pods, Some(Party::ControlPlane)).is_err());
        assert!(TokenKeys::from_config(&config, Party::Pods, None).is_err());
        assert!(TokenKeys::from_config(&TokenConfig::default(), Party::Pods, None).is_err());
        assert!(!format!("{config:?}").contains(&text[12..]));
    }
}
