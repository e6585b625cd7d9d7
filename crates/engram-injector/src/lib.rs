//! engram's Kubernetes sidecar injector, the way Dapr's works: a mutating
//! admission webhook that adds the engram sidecar to the pods that opt in
//! (the `engram.io/inject: "true"` annotation, or a namespace labelled
//! `engram.io/inject=enabled`, whose webhook calls `/mutate/namespace`).
//!
//! - [`admission`]: an AdmissionReview in, an AdmissionReview out (pure).
//! - [`sidecar`]: what a pod gets — the JSON Patch.
//! - [`annotations`]: the `engram.io/*` annotations, checked.
//! - [`server`]: HTTPS with rustls, the certificate reloaded when its
//!   files change (cert-manager rotates them).

pub mod admission;
pub mod annotations;
pub mod server;
pub mod sidecar;

pub use admission::review;
pub use sidecar::Defaults;
