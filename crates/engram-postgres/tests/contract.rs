//! The Postgres cold store against the contract suite, on a private
//! database of the local Postgres per case.

use std::time::Duration;

use engram_postgres::{PostgresColdStore, PostgresConfig};
use engram_testrig::PgDatabase;

async fn make_cold() -> (PostgresColdStore, PgDatabase) {
    let db = PgDatabase::create();
    let store = PostgresColdStore::new(&PostgresConfig {
        url: db.url.clone(),
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
    })
    .expect("valid config");
    (store, db)
}

engram_contract::cold_store_suite!(make_cold);
