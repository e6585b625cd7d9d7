//! engram's Postgres cold tier: the source of truth in production.
//!
//! Each tenant's data lives in its own schema, `t_<tenant>`, created and
//! migrated (refinery, migrations embedded in the binary) on the tenant's
//! first use. Tenant ids are validated by the core before they get here, and
//! every statement names its schema explicitly, so no query can reach
//! another tenant's tables. A write returns only after its transaction
//! committed.
//!
//! Depends on the core only.

mod appends;
mod compliance;
mod error;
mod facts;
mod handovers;
mod keys;
mod messages;
mod outbox;
mod schema;
mod stats;
mod store;
mod summaries;
mod tls;

pub use store::{PostgresColdStore, PostgresConfig};
