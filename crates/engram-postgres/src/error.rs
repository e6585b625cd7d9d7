//! tokio-postgres and pool errors as engram errors.

use engram_domain::{Error, Result};

const BACKEND: &str = "postgres";

/// Connection trouble is UNAVAILABLE (retrying may work, nothing was
/// acknowledged); a value the database cannot take (SQLSTATE class 22, data
/// exception: a character it cannot store, a number out of range) is the
/// request's, INVALID_ARGUMENT — the API edge refuses what it knows of
/// first, naming the field; anything else the database refuses is INTERNAL
/// (a bug or a schema out of step).
pub(crate) fn pg(e: tokio_postgres::Error) -> Error {
    if e.is_closed() {
        return Error::unavailable(BACKEND, "connection closed");
    }
    match e.code().map(|c| c.code()) {
        // Connection exceptions, insufficient resources, operator
        // intervention (shutdown, cancel), serialization and deadlock.
        Some(code)
            if code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "40001"
                || code == "40P01" =>
        {
            Error::unavailable(BACKEND, e)
        }
        Some(code) if code.starts_with("22") => Error::invalid(
            "request",
            format!("holds a value the database cannot store (SQLSTATE {code})"),
        ),
        Some(_) => Error::Internal(format!("postgres: {e}")),
        // No SQLSTATE: I/O or protocol trouble.
        None => Error::unavailable(BACKEND, e),
    }
}

pub(crate) fn pool(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => Error::unavailable(BACKEND, other),
    }
}

/// A stored id parsed back: one that does not parse is a corrupt row
/// (INTERNAL), not the caller's mistake.
pub(crate) fn id<T>(parse: fn(&str, &str) -> Result<T>, raw: &str) -> Result<T> {
    parse("stored id", raw)
        .map_err(|e| Error::Internal(format!("corrupt id in the cold store: {e}")))
}
