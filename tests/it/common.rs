//! Starts the real `engram` binary on a free port and talks gRPC to it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use engram::pb::compliance_service_client::ComplianceServiceClient;
use engram::pb::facts_service_client::FactsServiceClient;
use engram::pb::handover_service_client::HandoverServiceClient;
use engram::pb::memory_service_client::MemoryServiceClient;
use engram_testrig::PgDatabase;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Appends (role, content) turns in one AppendMessages call and returns
/// the stored messages, in order.
pub async fn append_turns(
    sidecar: &Sidecar,
    tenant: &str,
    user: &str,
    conversation: &str,
    turns: &[(engram::pb::Role, &str)],
) -> Vec<engram::pb::Message> {
    let request = engram::pb::AppendMessagesRequest {
        tenant_id: tenant.into(),
        conversation_id: conversation.into(),
        user_id: user.into(),
        messages: turns
            .iter()
            .map(|(role, content)| engram::pb::NewMessage {
                role: *role as i32,
                content: (*content).into(),
                ..Default::default()
            })
            .collect(),
    };
    sidecar
        .memory()
        .append_messages(request)
        .await
        .expect("append")
        .into_inner()
        .messages
        .into_iter()
        .map(|a| a.message.expect("stored message"))
        .collect()
}

/// The user's current facts, read through GetFacts.
pub async fn current_facts(sidecar: &Sidecar, tenant: &str, user: &str) -> Vec<engram::pb::Fact> {
    sidecar
        .facts()
        .get_facts(engram::pb::GetFactsRequest {
            tenant_id: tenant.into(),
            user_id: user.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .facts
}

/// Flags that point a sidecar at a chat-completions endpoint (the test
/// rig's scripted one) as its language model.
pub fn llm_flags(url: String, model: &str, timeout_ms: u64) -> Vec<String> {
    vec![
        "--llm-url".into(),
        url,
        "--llm-model".into(),
        model.into(),
        "--llm-timeout-ms".into(),
        timeout_ms.to_string(),
    ]
}

/// The bearer token every test sidecar accepts for administrative calls
/// (unless a test configures its own with `--admin-token`).
pub const ADMIN_TOKEN: &str = "test-admin-token-not-a-secret";

/// A request carrying `token` as its bearer token.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// A request carrying the test sidecars' admin token.
pub fn admin<T>(message: T) -> tonic::Request<T> {
    with_token(message, ADMIN_TOKEN)
}

/// A running sidecar; killed when dropped.
pub struct Sidecar {
    child: Option<Child>,
    channel: Channel,
    /// Every line the sidecar logged (JSON) so far.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Sidecar {
    /// Starts engram on 127.0.0.1:0 with `data_dir` on the embedded
    /// default and waits until it is SERVING.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// Starts engram with extra flags (backend URLs…) and waits until it is
    /// SERVING.
    pub async fn start_with(data_dir: &Path, flags: &[String]) -> Self {
        Self::start_with_env(data_dir, flags, &[]).await
    }

    /// Starts engram with extra flags and environment (`ENGRAM_LOG`…) and
    /// waits until it is SERVING.
    pub async fn start_with_env(data_dir: &Path, flags: &[String], env: &[(&str, &str)]) -> Self {
        // ENGRAM_TEST_BIN runs the suite against another build (a release
        // binary, or an older one to show that a test fails there).
        let bin = std::env::var_os("ENGRAM_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_engram").into());
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(flags)
            .env("ENGRAM_LOG", "info")
            .env(
                "ENGRAM_ADMIN_TOKENS",
                format!("test-admin:all:{}", engram::admin::token_hash(ADMIN_TOKEN)),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("engram starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let logs = Arc::new(Mutex::new(Vec::new()));
        // Reads the log for the bound address, then keeps draining it (and
        // keeping it) so the child never blocks on a full pipe.
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "listening"
                {
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("engram logs its address");
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        let sidecar = Self {
            child: Some(child),
            channel,
            logs,
        };
        sidecar
            .wait_status(ServingStatus::Serving, Duration::from_secs(15))
            .await;
        sidecar
    }

    /// Polls the overall health until it reports `want`.
    pub async fn wait_status(&self, want: ServingStatus, timeout: Duration) {
        let mut health = HealthClient::new(self.channel.clone());
        let deadline = Instant::now() + timeout;
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status());
            if matches!(&status, Ok(s) if *s == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "health never became {want:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The lines logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn memory(&self) -> MemoryServiceClient<Channel> {
        MemoryServiceClient::new(self.channel.clone())
    }

    pub fn facts(&self) -> FactsServiceClient<Channel> {
        FactsServiceClient::new(self.channel.clone())
    }

    pub fn compliance(&self) -> ComplianceServiceClient<Channel> {
        ComplianceServiceClient::new(self.channel.clone())
    }

    pub fn handover(&self) -> HandoverServiceClient<Channel> {
        HandoverServiceClient::new(self.channel.clone())
    }

    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// SIGTERM, then waits for a clean exit. Async, so that this test's
    /// runtime keeps answering the server's GOAWAY while it drains (a
    /// blocked client would hold the shutdown for the whole grace period).
    pub async fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        for _ in 0..3000 {
            if let Some(exit) = child.try_wait().expect("engram exits") {
                assert!(exit.success(), "engram exited with {exit}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("engram did not stop within 30 s of SIGTERM");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A sidecar's metrics exposition as a plain scraper gets it (text format
/// 0.0.4), from its `--metrics-listen` port.
pub fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// Retries `check` until it returns `Some`, at most `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the tenant's indexing jobs (and the running summaries they
/// refresh) are done, so that what ComposeContext sees no longer moves.
pub async fn indexed(sidecar: &Sidecar, tenant: &str) {
    eventually("indexing to catch up", Duration::from_secs(60), || async {
        let stats = sidecar
            .compliance()
            .get_memory_stats(admin(engram::pb::GetMemoryStatsRequest {
                tenant_id: tenant.into(),
                max_users: 1,
            }))
            .await
            .ok()?
            .into_inner();
        (stats.indexing?.pending_jobs == 0).then_some(())
    })
    .await;
}

/// Every value a tenant's tables hold, as text, row by row.
pub fn pg_dump(db: &PgDatabase, tenant: &str) -> Vec<String> {
    let tables = db.query(&format!(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 't_{tenant}' AND table_type = 'BASE TABLE'"
    ));
    let mut rows = Vec::new();
    for table in tables {
        let table = table[0].clone().unwrap();
        for row in db.query(&format!("SELECT t::text FROM \"t_{tenant}\".\"{table}\" t")) {
            rows.push(format!("{table}: {}", row[0].clone().unwrap_or_default()));
        }
    }
    rows
}

/// Every key under the prefix with what it holds.
pub fn redis_dump(port: u16, prefix: &str) -> Vec<(String, String)> {
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keys = cli(&["--scan", "--pattern", &format!("{prefix}:*")]);
    keys.lines()
        .map(|key| {
            let value = match cli(&["TYPE", key]).trim() {
                "list" => cli(&["LRANGE", key, "0", "-1"]),
                _ => cli(&["GET", key]),
            };
            (key.to_owned(), value)
        })
        .collect()
}
