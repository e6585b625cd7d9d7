//! engram's domain: the ids, time, errors and limits every layer shares,
//! the model (messages, conversations, facts), the records a store keeps
//! (summaries, handovers, retention policies, audit entries, wrapped keys,
//! the stored form of a sealed text) and the port traits every backend
//! implements ([`ports`]).
//!
//! No I/O and no async runtime: backends depend on this crate (and on
//! `engram-text` for the term analysis their indexes share) and on nothing
//! else of engram's.

pub mod audit;
pub mod error;
pub mod facts;
pub mod handover;
pub mod ids;
pub mod limits;
pub mod model;
pub mod observe;
pub mod ports;
pub mod retention;
pub mod sealed_text;
pub mod summary;
pub mod time;

pub use error::{Error, Result};
pub use time::Timestamp;
