//! engram as a pod runs it: on a Unix socket in a volume the app container
//! shares, probed with `engram health --live` / `--ready` exactly as the
//! injected probes run it (the socket found through `ENGRAM_LISTEN`), and
//! stopped with SIGTERM: not ready at once, serving on for the pre-stop
//! delay, then a watch ends with UNAVAILABLE and the socket goes. And the
//! sidecar the injector's patch declares, started and probed as the
//! kubelet would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::eventually;
use engram::pb;
use engram::pb::handover_service_client::HandoverServiceClient;
use engram::pb::memory_service_client::MemoryServiceClient;
use tonic::Code;
use tonic::transport::Channel;

const TENANT: &str = "clinic";

fn engram() -> Command {
    Command::new(env!("CARGO_BIN_EXE_engram"))
}

/// `engram health` with the sidecar container's environment: exit status
/// and what it printed.
fn probe(socket: &Path, flag: &str) -> (bool, String) {
    let out = engram()
        .args(["health", flag])
        .env("ENGRAM_LISTEN", format!("unix:{}", socket.display()))
        .env_remove("ENGRAM_ADDR")
        .output()
        .expect("engram health runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// A client over the Unix socket.
async fn connect(socket: PathBuf) -> Channel {
    tonic::transport::Endpoint::from_static("http://engram.local")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .expect("connects over the socket")
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_on_a_unix_socket_probed_and_stopped_as_a_pod_does() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/engram.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let mut child = engram()
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--socket-mode", "0666", "--shutdown-delay-secs", "2"])
        .env("ENGRAM_LISTEN", format!("unix:{}", socket.display()))
        .env("ENGRAM_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("engram starts");
    eventually("engram to be ready", Duration::from_secs(30), || async {
        probe(&socket, "--ready").0.then_some(())
    })
    .await;
    assert_eq!(probe(&socket, "--live"), (true, "SERVING".to_owned()));
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "{mode:o}");

    let channel = connect(socket.clone()).await;
    let mut memory = MemoryServiceClient::new(channel.clone());
    let append = |content: &str| pb::AppendMessagesRequest {
        tenant_id: TENANT.into(),
        conversation_id: "c1".into(),
        user_id: "ana".into(),
        messages: vec![pb::NewMessage {
            role: pb::Role::User as i32,
            content: content.into(),
            ..Default::default()
        }],
    };
    memory
        .append_messages(append("oi, quero falar com alguém"))
        .await
        .unwrap();
    let mut handover = HandoverServiceClient::new(channel.clone());
    handover
        .start_handover(pb::StartHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            operator_id: "bia".into(),
            reason: "asked for a person".into(),
        })
        .await
        .unwrap();
    let mut watch = handover
        .watch_handover(pb::WatchHandoverRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        watch.message().await.unwrap().is_some(),
        "the current state"
    );

    // SIGTERM: not ready at once, alive, and still serving the app's last
    // turn during the pre-stop delay.
    let signalled = Instant::now();
    sigterm(&child);
    eventually("readiness to turn", Duration::from_secs(1), || async {
        (!probe(&socket, "--ready").0).then_some(())
    })
    .await;
    assert_eq!(probe(&socket, "--ready"), (false, "NOT_SERVING".to_owned()));
    assert!(probe(&socket, "--live").0, "alive while it stops");
    memory
        .append_messages(append("obrigada, até logo"))
        .await
        .expect("served during the pre-stop delay");

    // After the delay the watch ends with a status the client understands.
    let ended = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("the watch ends");
    let status = ended.expect_err("ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "not before the delay"
    );
    drop((memory, handover, channel));

    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(!socket.exists(), "the socket is removed on exit");
    assert!(!probe(&socket, "--live").0);
}

#[test]
fn health_refuses_an_address_it_cannot_read() {
    let out = engram()
        .args(["health", "--live", "--ready"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE: not both");
    let out = engram()
        .args(["health"])
        .env("ENGRAM_LISTEN", "nowhere")
        .env_remove("ENGRAM_ADDR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE");
}

/// What the kubelet would do with the pod the injector patched: the
/// sidecar started with the container's args and env (its volumes mapped
/// to directories, as a runtime mounts them), every probe the patch
/// declares run as the kubelet runs an exec probe, and the app container
/// reaching engram through the `ENGRAM_ADDR` it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_sidecar_starts_and_answers_its_probes() {
    use base64::Engine as _;

    let fixture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/engram-injector/tests/fixtures/annotated.json"),
    )
    .unwrap();
    // The embedded default: no backend Secret to resolve here.
    let defaults: engram_injector::Defaults =
        serde_json::from_value(serde_json::json!({"image": "engram:test"})).unwrap();
    let answer = engram_injector::review(&fixture, &defaults, false).unwrap();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(answer["response"]["patch"].as_str().unwrap())
        .unwrap();
    let review: serde_json::Value = serde_json::from_slice(&fixture).unwrap();
    let mut pod = review["request"]["object"].clone();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    json_patch::patch(&mut pod, &patch).unwrap();
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let sidecar = containers.iter().find(|c| c["name"] == "engram").unwrap();
    let app = containers.iter().find(|c| c["name"] == "agent").unwrap();

    // The pod's volumes, as directories.
    let dir = tempfile::tempdir().unwrap();
    let mounts: Vec<(String, PathBuf)> = sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let host = dir.path().join(m["name"].as_str().unwrap());
            std::fs::create_dir_all(&host).unwrap();
            (m["mountPath"].as_str().unwrap().to_owned(), host)
        })
        .collect();
    let mapped = |value: &str| {
        mounts.iter().fold(value.to_owned(), |v, (path, host)| {
            v.replace(path.as_str(), host.to_str().unwrap())
        })
    };
    let env_of = |container: &serde_json::Value| -> Vec<(String, String)> {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let value = e["value"].as_str().expect("plain values here");
                (e["name"].as_str().unwrap().to_owned(), mapped(value))
            })
            .collect()
    };
    let sidecar_env = env_of(sidecar);
    let args: Vec<&str> = sidecar["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut child = engram()
        .args(&args)
        .env_clear()
        .envs(sidecar_env.iter().cloned())
        .stdout(Stdio::null())
        .spawn()
        .expect("the sidecar starts");

    // The kubelet's exec probes: the command, the container's env.
    let run_probe = |name: &str| {
        let command: Vec<&str> = sidecar[name]["exec"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(command[0], "/usr/local/bin/engram", "the image's binary");
        Command::new(env!("CARGO_BIN_EXE_engram"))
            .args(&command[1..])
            .env_clear()
            .envs(sidecar_env.iter().cloned())
            .output()
            .unwrap()
            .status
            .success()
    };
    eventually("the startup probe", Duration::from_secs(30), || async {
        run_probe("startupProbe").then_some(())
    })
    .await;
    assert!(run_probe("livenessProbe"));
    assert!(run_probe("readinessProbe"));

    // The app reaches engram where ENGRAM_ADDR says.
    let (_, addr) = env_of(app)
        .into_iter()
        .find(|(name, _)| name == "ENGRAM_ADDR")
        .unwrap();
    let socket = PathBuf::from(addr.strip_prefix("unix:").expect("a Unix socket"));
    let mut memory = MemoryServiceClient::new(connect(socket).await);
    memory
        .append_messages(pb::AppendMessagesRequest {
            tenant_id: TENANT.into(),
            conversation_id: "c1".into(),
            user_id: "ana".into(),
            messages: vec![pb::NewMessage {
                role: pb::Role::User as i32,
                content: "oi".into(),
                ..Default::default()
            }],
        })
        .await
        .expect("the app's call is served");
    sigterm(&child);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
