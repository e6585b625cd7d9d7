//! An AdmissionReview (admission.k8s.io/v1) as the API server sends it, and
//! the one it expects back: the request's uid echoed, `allowed`, and for a
//! pod to inject a base64 JSON Patch.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::annotations;
use crate::sidecar::{self, Defaults};

/// The answer to an AdmissionReview body; `Err` when the body is no
/// AdmissionReview (answered with HTTP 400: the API server then applies
/// the webhook's failurePolicy).
///
/// `namespace_opted_in`: the request came through the webhook whose
/// namespaceSelector matches namespaces labelled `engram.io/inject=
/// enabled`; a pod there is injected unless it says `engram.io/inject:
/// "false"`. Elsewhere only pods saying `"true"` are.
pub fn review(body: &[u8], defaults: &Defaults, namespace_opted_in: bool) -> Result<Value, String> {
    let review: Value =
        serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"))?;
    if review["apiVersion"] != "admission.k8s.io/v1" || review["kind"] != "AdmissionReview" {
        return Err("not an admission.k8s.io/v1 AdmissionReview".into());
    }
    let request = &review["request"];
    let uid = request["uid"]
        .as_str()
        .filter(|uid| !uid.is_empty())
        .ok_or("the AdmissionReview has no request.uid")?;
    let response = decide(request, defaults, namespace_opted_in);
    let mut response = match response {
        Decision::Allow => json!({"allowed": true}),
        Decision::Patch(ops) => {
            let patch = serde_json::to_vec(&ops).expect("a JSON patch serializes");
            json!({
                "allowed": true,
                "patchType": "JSONPatch",
                "patch": base64::engine::general_purpose::STANDARD.encode(patch),
            })
        }
        Decision::Refuse(message) => json!({
            "allowed": false,
            "status": {"code": 400, "reason": "BadRequest", "message": message},
        }),
    };
    response["uid"] = json!(uid);
    Ok(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
}

/// What becomes of one request.
#[derive(Debug)]
enum Decision {
    /// Let it through unchanged.
    Allow,
    Patch(Vec<Value>),
    /// A pod whose annotations are wrong: refused, with what to fix.
    Refuse(String),
}

fn decide(request: &Value, defaults: &Defaults, namespace_opted_in: bool) -> Decision {
    // Only pods being created: any other object or operation goes through.
    let is_pod = request["kind"]["kind"] == "Pod" && request["kind"]["group"] == "";
    if !is_pod || request["operation"] != "CREATE" || request["subResource"].is_string() {
        return Decision::Allow;
    }
    let pod = &request["object"];
    let asked = match annotations::read(pod) {
        Ok(asked) => asked,
        Err(message) => {
            // Only a pod that asks for engram (or is in an opted-in
            // namespace) is refused for a bad annotation ("inject: yes"
            // asks too); one that opted out is none of our business.
            let inject = pod.pointer("/metadata/annotations/engram.io~1inject");
            let asks = match inject {
                Some(v) => v != "false",
                None => namespace_opted_in,
            };
            return if asks {
                Decision::Refuse(format!("engram sidecar injection: {message}"))
            } else {
                Decision::Allow
            };
        }
    };
    if !asked.inject.unwrap_or(namespace_opted_in) {
        return Decision::Allow;
    }
    // Injected already (a re-invocation, a pod created from a patched
    // template): left alone.
    let has_sidecar = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .any(|list| {
            pod.pointer(list)
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["name"] == sidecar::CONTAINER))
        });
    if has_sidecar {
        return Decision::Allow;
    }
    Decision::Patch(sidecar::patch(pod, defaults, &asked))
}
