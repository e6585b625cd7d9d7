//! The `engram.io/*` annotations a pod sets, checked: a bad one refuses
//! the pod with a message that names it, rather than injecting a sidecar
//! that cannot start.

use std::collections::BTreeMap;

use serde_json::Value;

/// The annotations' prefix.
pub const PREFIX: &str = "engram.io/";

/// Every annotation the injector reads.
pub const KNOWN: &[&str] = &[
    "inject",
    "native-sidecar",
    "socket",
    "port",
    "image",
    "shutdown-delay-seconds",
    "cpu-request",
    "cpu-limit",
    "memory-request",
    "memory-limit",
    "env",
    "status",
];

/// What a pod asked for; `None` leaves the injector's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    pub inject: Option<bool>,
    pub native_sidecar: Option<bool>,
    pub socket: Option<bool>,
    pub port: Option<u16>,
    pub image: Option<String>,
    pub shutdown_delay_seconds: Option<u32>,
    pub cpu_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_request: Option<String>,
    pub memory_limit: Option<String>,
    /// Extra environment of the sidecar, in order.
    pub env: Vec<(String, String)>,
}

/// Reads the pod's `engram.io/*` annotations; the first bad one is an
/// error that says which and why.
pub fn read(pod: &Value) -> Result<Requested, String> {
    let mut out = Requested::default();
    let annotations: BTreeMap<&str, &str> = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let bad = |why: &str| format!("annotation {key}: {value:?} {why}");
        let flag = || match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("is not \"true\" or \"false\"")),
        };
        match name {
            "inject" => out.inject = Some(flag()?),
            "native-sidecar" => out.native_sidecar = Some(flag()?),
            "socket" => out.socket = Some(flag()?),
            "port" => {
                out.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| bad("is not a port (1-65535)"))?,
                )
            }
            "image" => {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    return Err(bad("is not an image reference"));
                }
                out.image = Some(value.to_owned());
            }
            "shutdown-delay-seconds" => {
                out.shutdown_delay_seconds = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|s| *s <= 300)
                        .ok_or_else(|| bad("is not a number of seconds (0-300)"))?,
                )
            }
            "cpu-request" | "cpu-limit" | "memory-request" | "memory-limit" => {
                if !is_quantity(value) {
                    return Err(bad(
                        "is not a Kubernetes quantity (such as 100m, 0.5, 128Mi, 1Gi)",
                    ));
                }
                let slot = match name {
                    "cpu-request" => &mut out.cpu_request,
                    "cpu-limit" => &mut out.cpu_limit,
                    "memory-request" => &mut out.memory_request,
                    _ => &mut out.memory_limit,
                };
                *slot = Some(value.to_owned());
            }
            "env" => out.env = env(value).map_err(|why| bad(&why))?,
            // Written by the injector on the pods it patched.
            "status" => {}
            _ => {
                return Err(format!(
                    "unknown annotation {key}: engram reads {}",
                    KNOWN
                        .iter()
                        .map(|k| format!("{PREFIX}{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// `NAME=value,NAME2=value`: names of letters, digits and `_` (not first
/// a digit); the sidecar's own settings are `ENGRAM_*`.
fn env(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("has {pair:?} without NAME=value"))?;
            let name = name.trim();
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("has {name:?}, not an environment variable name"));
            }
            Ok((name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// A Kubernetes resource quantity: a decimal number with an optional
/// binary (Ki…Ei), decimal (n, u, m, k, M…E) or exponent suffix.
pub fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let number_ok = !number.is_empty()
        && number.matches('.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        !e.is_empty()
            && e.trim_start_matches(['+', '-'])
                .chars()
                .all(|c| c.is_ascii_digit())
    });
    number_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}})
    }

    #[test]
    fn annotations_are_read_and_bad_ones_named() {
        let r = read(&pod(json!({
            "engram.io/inject": "true",
            "engram.io/port": "7000",
            "engram.io/memory-limit": "256Mi",
            "engram.io/env": "ENGRAM_LOG=debug, ENGRAM_RECENT_WINDOW=80",
            "other.io/x": "y",
        })))
        .unwrap();
        assert_eq!(r.inject, Some(true));
        assert_eq!(r.port, Some(7000));
        assert_eq!(r.memory_limit.as_deref(), Some("256Mi"));
        assert_eq!(
            r.env,
            [
                ("ENGRAM_LOG".into(), "debug".into()),
                ("ENGRAM_RECENT_WINDOW".into(), "80".into())
            ]
        );
        for (key, value, says) in [
            ("engram.io/inject", "yes", "is not \"true\""),
            ("engram.io/port", "0", "not a port"),
            ("engram.io/memory-limit", "lots", "quantity"),
            (
                "engram.io/env",
                "1BAD=x",
                "not an environment variable name",
            ),
            ("engram.io/injekt", "true", "unknown annotation"),
        ] {
            let error = read(&pod(json!({ key: value }))).unwrap_err();
            assert!(error.contains(says) && error.contains(key), "{error}");
        }
        assert_eq!(read(&json!({})).unwrap(), Requested::default());
    }

    #[test]
    fn quantities() {
        for q in ["100m", "0.5", "1", "128Mi", "1Gi", "2e3", "500M"] {
            assert!(is_quantity(q), "{q}");
        }
        for q in ["", "m", "1.2.3", "12 Mi", "1Gb", "-1"] {
            assert!(!is_quantity(q), "{q}");
        }
    }
}
