//! engram's core: the domain types, the port traits every backend
//! implements, and the pure logic (temporal facts, context composition, text
//! analysis, importance), plus the engine that runs the write and read paths
//! over the ports.
//!
//! This crate must not depend on any backend or do I/O of its own: it sees
//! storage only through the traits of [`ports`]. Tokio is used for tasks and
//! timers only.

pub mod audit;
pub mod backoff;
pub mod compliance;
pub mod compose;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod extract;
pub mod facts;
pub mod handover;
pub mod ids;
pub mod importance;
pub mod keys;
pub mod layered;
pub mod limits;
pub mod model;
pub mod observe;
pub mod pii;
pub mod ports;
pub mod query;
pub mod retention;
pub mod sealed;
pub mod summary;
pub mod text;
pub mod time;
pub mod tokens;

pub use error::{Error, Result};
pub use time::Timestamp;
