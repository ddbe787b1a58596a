//! Layered configuration: a process's defaults, then an optional TOML file,
//! then `MERCATO_<PROCESS>_<FIELD>` environment variables.

use std::path::Path;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Loads `T` from its defaults, `file` and the environment variables that
/// start with `prefix` (e.g. `MERCATO_POD_` sets `PodConfig` fields).
pub fn load<T: Default + Serialize + DeserializeOwned>(
    file: Option<&Path>,
    prefix: &str,
) -> anyhow::Result<T> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_from(file, prefix, &vars)
}

fn load_from<T: Default + Serialize + DeserializeOwned>(
    file: Option<&Path>,
    prefix: &str,
    vars: &[(String, String)],
) -> anyhow::Result<T> {
    let mut table = match toml::Value::try_from(T::default()).context("serializing defaults")? {
        toml::Value::Table(t) => t,
        _ => anyhow::bail!("a config must be a table"),
    };
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let from_file: toml::Table = text
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        merge(&mut table, from_file);
    }
    for (name, value) in vars {
        let Some(field) = name.strip_prefix(prefix) else {
            continue;
        };
        // `A__B` sets field `b` of the section `a`.
        let path = field.to_ascii_lowercase();
        let mut path: Vec<&str> = path.split("__").collect();
        let field = path.pop().unwrap_or_default().to_string();
        let mut table = &mut table;
        for section in path {
            table = match table.get_mut(section) {
                Some(toml::Value::Table(t)) => t,
                _ => anyhow::bail!("{name} does not name a setting"),
            };
        }
        let parsed = match table.get(&field) {
            Some(toml::Value::Integer(_)) => toml::Value::Integer(
                value
                    .parse()
                    .with_context(|| format!("{name} must be a whole number"))?,
            ),
            Some(toml::Value::Float(_)) => toml::Value::Float(
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .with_context(|| format!("{name} must be a number"))?,
            ),
            Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
                value
                    .parse()
                    .with_context(|| format!("{name} must be true or false"))?,
            ),
            Some(_) => toml::Value::String(value.clone()),
            None => anyhow::bail!("{name} does not name a setting"),
        };
        table.insert(field, parsed);
    }
    toml::Value::Table(table)
        .try_into()
        .context("invalid configuration")
}

/// Lays `over` on `base`: a section in both is merged key by key (so a
/// file's `[cart]` keeps the defaults of the keys it leaves out, and an
/// environment variable can still reach them); anything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        listen: String,
        limit: u64,
        verbose: bool,
        inner: Inner,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        depth: u64,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                listen: "127.0.0.1:1".into(),
                limit: 10,
                verbose: false,
                inner: Inner::default(),
            }
        }
    }

    #[test]
    fn a_fraction_is_set_by_a_variable() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        #[serde(default)]
        struct Shares {
            share: f64,
        }
        impl Default for Shares {
            fn default() -> Self {
                Self { share: 1.0 }
            }
        }
        let vars = vec![("MERCATO_S_SHARE".to_string(), "0.5".to_string())];
        let got: Shares = load_from(None, "MERCATO_S_", &vars).expect("loads");
        assert_eq!(got.share, 0.5);
        for bad in ["half", "NaN", "inf"] {
            let vars = vec![("MERCATO_S_SHARE".to_string(), bad.to_string())];
            assert!(
                load_from::<Shares>(None, "MERCATO_S_", &vars).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn double_underscores_reach_into_sections() {
        let vars = vec![("MERCATO_DEMO_INNER__DEPTH".to_string(), "7".to_string())];
        let c: Demo = load_from(None, "MERCATO_DEMO_", &vars).expect("loads");
        assert_eq!(c.inner, Inner { depth: 7 });
        let vars = vec![("MERCATO_DEMO_LIMIT__DEPTH".to_string(), "7".to_string())];
        assert!(load_from::<Demo>(None, "MERCATO_DEMO_", &vars).is_err());
        let vars = vec![("MERCATO_DEMO_INNER__NOPE".to_string(), "7".to_string())];
        assert!(load_from::<Demo>(None, "MERCATO_DEMO_", &vars).is_err());
    }

    #[test]
    fn layers_defaults_file_and_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "limit = 20\nlisten = \"0.0.0.0:2\"\n").expect("write");
        let vars = vec![
            ("MERCATO_DEMO_LIMIT".to_string(), "30".to_string()),
            ("OTHER".into(), "x".into()),
        ];
        let c: Demo = load_from(Some(&file), "MERCATO_DEMO_", &vars).expect("loads");
        assert_eq!(
            c,
            Demo {
                listen: "0.0.0.0:2".into(),
                limit: 30,
                verbose: false,
                inner: Inner::default(),
            }
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let vars = vec![("MERCATO_DEMO_LIMIT".to_string(), "lots".to_string())];
        assert!(load_from::<Demo>(None, "MERCATO_DEMO_", &vars).is_err());
        let vars = vec![("MERCATO_DEMO_NOPE".to_string(), "1".to_string())];
        assert!(load_from::<Demo>(None, "MERCATO_DEMO_", &vars).is_err());
    }

    #[test]
    fn a_file_section_keeps_the_defaults_of_keys_it_leaves_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[inner]\n").expect("write");
        let vars = vec![("MERCATO_DEMO_INNER__DEPTH".to_string(), "3".to_string())];
        let c: Demo = load_from(Some(&file), "MERCATO_DEMO_", &vars).expect("loads");
        assert_eq!(c.inner, Inner { depth: 3 });
    }

    /// The pod's sections, as `mercato serve pod` loads them.
    #[test]
    fn pod_settings_are_reached_by_section() {
        let c: mercato_pod::PodConfig = load_from(None, "MERCATO_POD_", &[]).expect("loads");
        assert_eq!(c, mercato_pod::PodConfig::default());

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pod.toml");
        std::fs::write(
            &file,
            "name = \"pod-9\"\n[cart]\nmax_lines = 7\n[media.s3]\nbucket = \"img\"\n",
        )
        .expect("write");
        let vars: Vec<(String, String)> = [
            ("MERCATO_POD_CART__GUEST_TTL_SECS", "60"),
            ("MERCATO_POD_GATEWAY__API_KEY", "sk_live_x"),
            ("MERCATO_POD_INVENTORY__GATE", "false"),
            ("MERCATO_POD_MEDIA__S3__REGION", "eu-west-1"),
            ("MERCATO_POD_EVENTS__KAFKA_BROKERS", "k:9092"),
            (
                "MERCATO_POD_TELEMETRY__OTLP_ENDPOINT",
                "http://collector:4318",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c: mercato_pod::PodConfig =
            load_from(Some(&file), "MERCATO_POD_", &vars).expect("loads");
        let defaults = mercato_pod::PodConfig::default();
        assert_eq!(c.name, "pod-9");
        assert_eq!(c.cart.max_lines, 7);
        assert_eq!(c.cart.guest_ttl_secs, 60);
        assert_eq!(c.cart.customer_ttl_secs, defaults.cart.customer_ttl_secs);
        assert_eq!(c.gateway.api_key, "sk_live_x");
        assert_eq!(c.gateway.webhook_secret, defaults.gateway.webhook_secret);
        assert!(!c.inventory.gate);
        assert_eq!(c.media.s3.bucket, "img");
        assert_eq!(c.media.s3.region, "eu-west-1");
        assert_eq!(c.events.kafka_brokers.as_deref(), Some("k:9092"));
        assert_eq!(c.telemetry.endpoint(), Some("http://collector:4318"));
        assert_eq!(defaults.telemetry.endpoint(), None);

        // The flat names from before the sections are refused.
        for old in ["MERCATO_POD_CART_MAX_LINES", "MERCATO_POD_GATEWAY_API_KEY"] {
            let vars = vec![(old.to_string(), "5".to_string())];
            assert!(
                load_from::<mercato_pod::PodConfig>(None, "MERCATO_POD_", &vars).is_err(),
                "{old} was accepted"
            );
        }
        let file = dir.path().join("old.toml");
        std::fs::write(&file, "[cart]\nmax_line = 5\n").expect("write");
        assert!(load_from::<mercato_pod::PodConfig>(Some(&file), "MERCATO_POD_", &[]).is_err());
    }
}
