//! The `engram` sidecar: configuration and wiring of the core engine, its
//! backends and the gRPC API. Business logic lives in `engram-engine` and
//! the pure crates under it (see ARCHITECTURE.md).

#![forbid(unsafe_code)]

pub mod admin;
pub mod backends;
pub mod codec;
pub mod config;
pub mod metrics;
pub mod server;
pub mod traces;

/// The generated engram.v1 API.
#[allow(clippy::all, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("engram.v1");

    /// The encoded descriptors of engram.v1, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("engram_descriptor");
}
