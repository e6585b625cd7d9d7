//! engram's integration tests, one binary (it links once): the real
//! binary over gRPC, with real Postgres, redis-server, Qdrant, Prometheus
//! and podman where a test needs them. `common` holds what they share.

mod common;

mod bad_input;
mod compliance;
mod config;
mod encryption;
mod handover;
mod image;
mod layout;
mod metrics;
mod pod;
mod production;
mod qdrant;
mod semantic;
mod sidecar;
mod subject_rights;
mod summaries;
mod tls;
mod traces;
