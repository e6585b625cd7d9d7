//! What an opted-in pod gets, as a JSON Patch: the engram container (a
//! classic sidecar in `containers`, or a native one — an init container
//! with `restartPolicy: Always`, Kubernetes ≥ 1.29 — first in
//! `initContainers`), the volumes it needs (the Unix socket's, shared with
//! the app containers, and its data directory), and `ENGRAM_ADDR` in every
//! app container, telling it where engram answers.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::annotations::Requested;

/// The sidecar container's name: a pod that has one is left alone.
pub const CONTAINER: &str = "engram";
/// Where the socket's volume is mounted, in the sidecar and the app.
pub const SOCKET_DIR: &str = "/var/run/engram";
/// The socket the sidecar listens on.
pub const SOCKET: &str = "/var/run/engram/engram.sock";
/// The sidecar's data directory (the embedded stores; with Postgres only
/// its caches).
pub const DATA_DIR: &str = "/var/lib/engram";
/// The binary in the image.
pub const BINARY: &str = "/usr/local/bin/engram";
const SOCKET_VOLUME: &str = "engram-socket";
const DATA_VOLUME: &str = "engram-data";
/// The environment variable the app reads engram's address from.
pub const ADDR_ENV: &str = "ENGRAM_ADDR";

/// The injector's defaults for every sidecar (its configuration file,
/// rendered by the chart or the kustomize base); annotations override
/// some of them per pod.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    /// The engram image.
    pub image: String,
    #[serde(default = "if_not_present")]
    pub image_pull_policy: String,
    /// Environment of every sidecar, as Kubernetes `EnvVar`s: backends'
    /// URLs by secret reference (`valueFrom.secretKeyRef`), TTLs…
    #[serde(default)]
    pub env: Vec<Value>,
    /// Kubernetes `ResourceRequirements` of the sidecar.
    #[serde(default = "default_resources")]
    pub resources: Value,
    /// The gRPC port when the pod asks for TCP (`engram.io/socket:
    /// "false"`): engram listens on the pod's loopback only.
    #[serde(default = "default_port")]
    pub port: u16,
    /// A Unix socket in a volume only the pod mounts (else TCP on the
    /// loopback).
    #[serde(default = "yes")]
    pub socket: bool,
    /// Native sidecars (an init container with `restartPolicy: Always`).
    #[serde(default)]
    pub native_sidecar: bool,
    /// After SIGTERM, how long engram serves on before draining.
    #[serde(default = "default_delay")]
    pub shutdown_delay_seconds: u32,
    /// The user and group engram runs as (non-root).
    #[serde(default = "default_user")]
    pub run_as_user: u64,
    /// Serve Prometheus metrics on this port of the pod's IP (a container
    /// port named `engram-metrics`, for a scrape config to keep); none
    /// unless set.
    #[serde(default)]
    pub metrics_port: Option<u16>,
}

fn if_not_present() -> String {
    "IfNotPresent".into()
}
fn default_resources() -> Value {
    json!({
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"}
    })
}
fn default_port() -> u16 {
    50051
}
fn yes() -> bool {
    true
}
fn default_delay() -> u32 {
    5
}
fn default_user() -> u64 {
    65532
}

/// The JSON Patch that injects the sidecar into `pod`.
pub fn patch(pod: &Value, defaults: &Defaults, asked: &Requested) -> Vec<Value> {
    let socket = asked.socket.unwrap_or(defaults.socket);
    let native = asked.native_sidecar.unwrap_or(defaults.native_sidecar);
    let port = asked.port.unwrap_or(defaults.port);
    let addr = if socket {
        format!("unix:{SOCKET}")
    } else {
        format!("http://127.0.0.1:{port}")
    };
    let mut ops = Vec::new();

    // Volumes: the socket's (memory-backed), the data directory.
    let mut volumes = vec![json!({"name": DATA_VOLUME, "emptyDir": {}})];
    if socket {
        volumes.push(json!({"name": SOCKET_VOLUME, "emptyDir": {"medium": "Memory"}}));
    }
    let has_volumes = pod.pointer("/spec/volumes").is_some();
    append_all(&mut ops, has_volumes, "/spec/volumes", volumes);

    // The app containers: where engram is, and the socket's volume.
    let mount = json!({"name": SOCKET_VOLUME, "mountPath": SOCKET_DIR});
    let env = json!({"name": ADDR_ENV, "value": addr});
    let mut app = vec!["containers"];
    if native {
        // Init containers after the native sidecar can reach it.
        app.push("initContainers");
    }
    for list in app {
        let containers = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, container) in containers.iter().enumerate() {
            let at = format!("/spec/{list}/{i}");
            let has_env = container
                .get("env")
                .and_then(Value::as_array)
                .is_some_and(|env| env.iter().any(|e| e["name"] == ADDR_ENV));
            if !has_env {
                let exists = container.get("env").is_some();
                append_all(&mut ops, exists, &format!("{at}/env"), vec![env.clone()]);
            }
            if socket {
                let exists = container.get("volumeMounts").is_some();
                let path = format!("{at}/volumeMounts");
                append_all(&mut ops, exists, &path, vec![mount.clone()]);
            }
        }
    }

    // The sidecar itself.
    let mut sidecar = container(defaults, asked, socket, port);
    if native {
        sidecar["restartPolicy"] = json!("Always");
        let has_init = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .is_some();
        ops.push(if has_init {
            json!({"op": "add", "path": "/spec/initContainers/0", "value": sidecar})
        } else {
            json!({"op": "add", "path": "/spec/initContainers", "value": [sidecar]})
        });
    } else {
        ops.push(json!({"op": "add", "path": "/spec/containers/-", "value": sidecar}));
    }

    // Marked, for people reading the pod.
    let has_annotations = pod.pointer("/metadata/annotations").is_some();
    ops.push(if has_annotations {
        json!({"op": "add", "path": "/metadata/annotations/engram.io~1status", "value": "injected"})
    } else {
        json!({"op": "add", "path": "/metadata/annotations", "value": {"engram.io/status": "injected"}})
    });
    ops
}

/// Adds `values` to the array at `path`: creates it when it does not
/// `exist`, else appends each value.
fn append_all(ops: &mut Vec<Value>, exists: bool, path: &str, values: Vec<Value>) {
    if exists {
        for value in values {
            ops.push(json!({"op": "add", "path": format!("{path}/-"), "value": value}));
        }
    } else {
        ops.push(json!({"op": "add", "path": path, "value": values}));
    }
}

/// The engram container.
fn container(defaults: &Defaults, asked: &Requested, socket: bool, port: u16) -> Value {
    let listen = if socket {
        format!("unix:{SOCKET}")
    } else {
        format!("127.0.0.1:{port}")
    };
    let delay = asked
        .shutdown_delay_seconds
        .unwrap_or(defaults.shutdown_delay_seconds);
    let mut env = vec![
        json!({"name": "ENGRAM_LISTEN", "value": listen}),
        json!({"name": "ENGRAM_DATA_DIR", "value": DATA_DIR}),
        json!({"name": "ENGRAM_LOG_FORMAT", "value": "json"}),
        json!({"name": "ENGRAM_SHUTDOWN_DELAY_SECS", "value": delay.to_string()}),
    ];
    if socket {
        // The volume is the pod's alone: every container of it may use
        // the socket, whatever user it runs as.
        env.push(json!({"name": "ENGRAM_SOCKET_MODE", "value": "0666"}));
    }
    if let Some(port) = defaults.metrics_port {
        env.push(json!({"name": "ENGRAM_METRICS_LISTEN", "value": format!("0.0.0.0:{port}")}));
    }
    env.extend(defaults.env.iter().cloned());
    env.extend(
        asked
            .env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );

    let mut resources = defaults.resources.clone();
    for (value, section, key) in [
        (&asked.cpu_request, "requests", "cpu"),
        (&asked.memory_request, "requests", "memory"),
        (&asked.cpu_limit, "limits", "cpu"),
        (&asked.memory_limit, "limits", "memory"),
    ] {
        if let Some(value) = value {
            if !resources[section].is_object() {
                resources[section] = json!({});
            }
            resources[section][key] = json!(value);
        }
    }

    let probe = |what: &str, period: u32, failures: u32| {
        json!({
            "exec": {"command": [BINARY, "health", what]},
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        })
    };
    let mut mounts = vec![json!({"name": DATA_VOLUME, "mountPath": DATA_DIR})];
    if socket {
        mounts.push(json!({"name": SOCKET_VOLUME, "mountPath": SOCKET_DIR}));
    }
    let mut container = json!({
        "name": CONTAINER,
        "image": asked.image.clone().unwrap_or_else(|| defaults.image.clone()),
        "imagePullPolicy": defaults.image_pull_policy,
        "args": ["serve"],
        "env": env,
        "resources": resources,
        // Started when it answers at all; restarted only when the process
        // stops answering, never for a backend outage (readiness says
        // that).
        "startupProbe": probe("--live", 1, 60),
        "livenessProbe": probe("--live", 10, 3),
        "readinessProbe": probe("--ready", 5, 3),
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": defaults.run_as_user,
            "runAsGroup": defaults.run_as_user,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    });
    let mut ports = Vec::new();
    if !socket {
        ports.push(json!({"name": "engram-grpc", "containerPort": port, "protocol": "TCP"}));
    }
    if let Some(metrics) = defaults.metrics_port {
        ports.push(json!({"name": "engram-metrics", "containerPort": metrics, "protocol": "TCP"}));
    }
    if !ports.is_empty() {
        container["ports"] = json!(ports);
    }
    container
}
