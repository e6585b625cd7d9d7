//! Generates the gRPC code of `proto/engram/v1/*.proto`.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so a fresh machine
//! builds engram with nothing installed but the Rust toolchain.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/engram/v1/common.proto",
    "proto/engram/v1/memory.proto",
    "proto/engram/v1/facts.proto",
    "proto/engram/v1/handover.proto",
    "proto/engram/v1/compliance.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let well_known = well_known
        .to_str()
        .ok_or("protoc include path is not UTF-8")?;

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);

    tonic_prost_build::configure()
        // A request that does not decode is INVALID_ARGUMENT (src/codec.rs).
        .codec_path("crate::codec::Codec")
        .file_descriptor_set_path(out_dir.join("engram_descriptor.bin"))
        .compile_with_config(config, PROTOS, &["proto", well_known])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
