"""engram in Kubernetes, offline: every manifest `kubectl kustomize`
renders from deploy/ and every pod the injector patched (its golden files,
which crates/engram-injector/tests/golden.rs keeps equal to what the
injector answers) validate strictly against the Kubernetes schemas of 1.29
(native sidecars) and of the newest version kubernetes-validate knows; the
chart's values.yaml validates against values.schema.json, and bad values
are refused. No API server, kubelet or helm binary is at hand here: the
chart's templates are not rendered in this test."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]
# cert-manager's kinds are CRDs the schemas do not hold.
NOT_BUILT_IN = ("cert-manager.io/",)


def kubectl():
    found = Path(sys.executable).parent / "kubectl"
    return str(found) if found.exists() else shutil.which("kubectl")


def validate(doc, version):
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", ["development", "production"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_validates_strictly(overlay, version):
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "deploy" / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "Deployment", "Service",
            "MutatingWebhookConfiguration", "ConfigMap"} <= kinds
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith(NOT_BUILT_IN):
            continue
        validate(doc, version)
        checked += 1
    assert checked >= 7
    # The injector's configuration is what the injector reads.
    config = next(d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].startswith("engram-injector"))
    defaults = json.loads(config["data"]["sidecar-defaults.json"])
    assert defaults["image"].startswith("ghcr.io/engram/engram:")
    webhook = next(d for d in docs if d["kind"] == "MutatingWebhookConfiguration")
    paths = sorted(w["clientConfig"]["service"]["path"] for w in webhook["webhooks"])
    assert paths == ["/mutate", "/mutate/namespace"]
    assert all(w["failurePolicy"] == "Ignore" for w in webhook["webhooks"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_patched_pod_validates_strictly(version):
    pods = sorted((ROOT / "crates/engram-injector/tests/golden").glob("*.pod.json"))
    assert len(pods) >= 5
    for path in pods:
        validate(json.loads(path.read_text()), version)


def test_a_broken_pod_is_refused_by_the_validator():
    path = ROOT / "crates/engram-injector/tests/golden/annotated.pod.json"
    pod = json.loads(path.read_text())
    pod["spec"]["containers"][-1]["restartPolicyy"] = "Always"
    with pytest.raises(Exception):
        validate(pod, VERSIONS[0])


def chart_schema():
    return json.loads((ROOT / "helm/engram/values.schema.json").read_text())


def test_the_charts_values_follow_its_schema():
    values = yaml.safe_load((ROOT / "helm/engram/values.yaml").read_text())
    jsonschema.validate(values, chart_schema())


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v["injector"].update(replicas=0),
        lambda v: v["injector"].update(failurePolicy="Maybe"),
        lambda v: v["injector"]["tls"].update(certManager=False, caBundle=""),
        lambda v: v["sidecar"].update(port=70000),
        lambda v: v["sidecar"].update(shutdownDelaySeconds=-1),
        lambda v: v["sidecar"]["resources"]["limits"].update(memory="lots"),
        lambda v: v["sidecar"]["image"].update(tag="has space"),
        lambda v: v["sidecar"].update(env={"PATH": "/bin"}),
        lambda v: v["sidecar"].update(sockett=True),
    ],
)
def test_bad_values_are_refused(change):
    values = yaml.safe_load((ROOT / "helm/engram/values.yaml").read_text())
    change(values)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, chart_schema())
