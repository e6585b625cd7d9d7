//! The injector against AdmissionReviews as the API server sends them
//! (`tests/fixtures`): the uid echoed, the decision, and for a patched pod
//! the pod after its JSON Patch is applied (the `json-patch` crate, as the
//! API server applies RFC 6902), compared with its golden file
//! (`tests/golden`; `UPDATE_GOLDEN=1` rewrites them). tests/python
//! validates every golden pod against the Kubernetes schemas.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use engram_injector::{Defaults, review};
use serde_json::{Value, json};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn defaults() -> Defaults {
    serde_json::from_slice(&std::fs::read(here().join("defaults.json")).unwrap()).unwrap()
}

/// Compares `value` with the golden file, or writes it.
fn golden(name: &str, value: &Value) {
    let path = here().join("golden").join(name);
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(text, want, "{name} differs from its golden file");
}

/// The response to a fixture, and the pod once patched (`None` when no
/// patch came).
fn run(fixture: &str) -> (Value, Option<Value>) {
    let body = std::fs::read(here().join("fixtures").join(format!("{fixture}.json"))).unwrap();
    let request: Value = serde_json::from_slice(&body).unwrap();
    let namespace = fixture.starts_with("namespace-");
    let answer = review(&body, &defaults(), namespace).expect("an AdmissionReview");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    let response = answer["response"].clone();
    assert_eq!(
        response["uid"], request["request"]["uid"],
        "the uid is echoed"
    );
    let Some(patch) = response["patch"].as_str() else {
        assert!(response.get("patchType").is_none());
        return (response, None);
    };
    assert_eq!(response["patchType"], "JSONPatch");
    assert_eq!(response["allowed"], true);
    let ops: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .unwrap(),
    )
    .unwrap();
    let mut pod = request["request"]["object"].clone();
    json_patch::patch(&mut pod, &ops).expect("the patch applies to its pod");
    golden(&format!("{fixture}.pod.json"), &pod);
    (response, Some(pod))
}

fn sidecar<'a>(pod: &'a Value, list: &str) -> &'a Value {
    pod["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "engram")
        .expect("the engram container")
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["value"])
}

#[test]
fn an_annotated_pod_gets_the_sidecar_on_a_unix_socket() {
    let (_, pod) = run("annotated");
    let pod = pod.expect("patched");
    let engram = sidecar(&pod, "containers");
    assert_eq!(
        env(engram, "ENGRAM_LISTEN").unwrap(),
        "unix:/var/run/engram/engram.sock"
    );
    assert_eq!(env(engram, "ENGRAM_RECENT_WINDOW").unwrap(), "80");
    assert_eq!(engram["resources"]["limits"]["memory"], "512Mi");
    assert!(engram.get("restartPolicy").is_none(), "a classic sidecar");
    assert_eq!(engram["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        engram["livenessProbe"]["exec"]["command"],
        json!(["/usr/local/bin/engram", "health", "--live"])
    );
    let agent = &pod["spec"]["containers"][0];
    assert_eq!(
        env(agent, "ENGRAM_ADDR").unwrap(),
        "unix:/var/run/engram/engram.sock"
    );
    assert_eq!(agent["volumeMounts"][0]["mountPath"], "/var/run/engram");
    assert_eq!(
        pod["metadata"]["annotations"]["engram.io/status"],
        "injected"
    );
}

#[test]
fn a_native_sidecar_goes_first_among_the_init_containers() {
    for fixture in ["native", "native-with-init-containers"] {
        let (_, pod) = run(fixture);
        let pod = pod.expect("patched");
        let first = &pod["spec"]["initContainers"][0];
        assert_eq!(first["name"], "engram", "{fixture}");
        assert_eq!(first["restartPolicy"], "Always");
        assert!(first["startupProbe"].is_object());
        let containers = pod["spec"]["containers"].as_array().unwrap();
        assert!(containers.iter().all(|c| c["name"] != "engram"));
    }
    let (_, pod) = run("native-with-init-containers");
    let pod = pod.unwrap();
    let migrate = &pod["spec"]["initContainers"][1];
    assert_eq!(migrate["name"], "migrate");
    assert!(
        env(migrate, "ENGRAM_ADDR").is_some(),
        "runs after engram, reaches it"
    );
    assert_eq!(pod["spec"]["volumes"].as_array().unwrap().len(), 3);
}

#[test]
fn tcp_on_the_loopback_keeps_what_the_app_set() {
    let (_, pod) = run("tcp-two-containers");
    let pod = pod.expect("patched");
    let engram = sidecar(&pod, "containers");
    assert_eq!(env(engram, "ENGRAM_LISTEN").unwrap(), "127.0.0.1:7000");
    assert_eq!(engram["ports"][0]["containerPort"], 7000);
    let agent = &pod["spec"]["containers"][0];
    assert_eq!(env(agent, "ENGRAM_ADDR").unwrap(), "http://127.0.0.1:7000");
    assert_eq!(env(agent, "MODE").unwrap(), "prod");
    assert_eq!(
        agent["volumeMounts"].as_array().unwrap().len(),
        1,
        "no socket"
    );
    let worker = &pod["spec"]["containers"][1];
    assert_eq!(
        worker["env"].as_array().unwrap().len(),
        1,
        "its own ENGRAM_ADDR kept"
    );
}

#[test]
fn a_labelled_namespace_opts_its_pods_in_unless_they_opt_out() {
    assert!(run("namespace-labelled").1.is_some());
    let (response, pod) = run("namespace-opted-out");
    assert!(pod.is_none());
    assert_eq!(response["allowed"], true);
}

#[test]
fn what_is_not_for_the_injector_goes_through_untouched() {
    for fixture in ["unannotated", "already-injected", "not-a-pod"] {
        let (response, pod) = run(fixture);
        assert!(pod.is_none(), "{fixture}");
        assert_eq!(response["allowed"], true, "{fixture}");
    }
}

#[test]
fn bad_annotations_refuse_the_pod_with_what_to_fix() {
    for (fixture, says) in [
        ("bad-annotations", "engram.io/port"),
        (
            "unknown-annotation",
            "unknown annotation engram.io/sidecar-image",
        ),
    ] {
        let (response, pod) = run(fixture);
        assert!(pod.is_none());
        assert_eq!(response["allowed"], false, "{fixture}");
        assert_eq!(response["status"]["code"], 400);
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn what_is_no_admission_review_is_an_error() {
    let d = defaults();
    assert!(review(b"not json", &d, false).is_err());
    assert!(review(br#"{"apiVersion":"v1","kind":"Pod"}"#, &d, false).is_err());
    let no_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#;
    assert!(review(no_uid, &d, false).is_err());
}

#[test]
fn every_fixture_has_a_test_and_every_golden_file_a_fixture() {
    let names = |dir: &Path, suffix: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(suffix).map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    };
    let fixtures = names(&here().join("fixtures"), ".json");
    let patched: Vec<String> = fixtures
        .iter()
        .filter(|f| run(f).1.is_some())
        .cloned()
        .collect();
    assert_eq!(names(&here().join("golden"), ".pod.json"), patched);
}

#[test]
fn the_shipped_sidecar_defaults_are_what_the_injector_reads() {
    let root = here().join("../../..");
    for file in [
        "deploy/base/sidecar-defaults.json",
        "deploy/overlays/development/sidecar-defaults.json",
    ] {
        let raw = std::fs::read(root.join(file)).unwrap();
        let defaults: Defaults =
            serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            defaults.image.starts_with("ghcr.io/engram/engram:"),
            "{file}"
        );
    }
}
