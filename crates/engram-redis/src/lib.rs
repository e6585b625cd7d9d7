//! engram's Redis hot/warm tier, standalone or cluster (fred).
//!
//! Implements `engram_domain::ports::HotTier`: conversation windows and
//! current facts with revision fences kept atomically by Lua scripts, every
//! key of a conversation under one cluster hash tag. Redis is a cache here:
//! while it is down every call fails fast and engram serves from the cold
//! store.
//!
//! Depends on the core only.

mod config;
mod invalidation;
pub mod near;
mod scripts;
mod slot;
mod tier;

pub use config::RedisConfig;
pub use invalidation::RedisInvalidations;
pub use tier::RedisHotTier;
