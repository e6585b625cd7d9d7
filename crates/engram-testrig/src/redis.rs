//! redis-server: a private process, a cluster, snapshots and failovers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

use crate::{close, free_cluster_port, free_port, unique, wait_until, watchdog};

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
