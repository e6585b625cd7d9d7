//! Prometheus metrics, scraped by a real Prometheus (the test rig's, from
//! Debian's `prometheus`; skipped, saying so, without one): the request
//! counters and latency histograms move by what a short load sent, the
//! exposition passes `promtool check metrics`, backend calls, tier reads,
//! invalidations and the indexing backlog are counted, and the hot tier's
//! and the subscription's gauges drop when Redis is killed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Sidecar, eventually, scrape};
use engram::pb;
use engram_testrig::{PgDatabase, PrometheusServer, RedisServer, free_port, unique_prefix};

const TENANT: &str = "clinic";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_what_the_sidecar_served() {
    let metrics_port = free_port();
    let Some(prometheus) = PrometheusServer::start(&[format!("127.0.0.1:{metrics_port}")]) else {
        eprintln!("SKIPPED: no prometheus on PATH (apt-get install prometheus)");
        return;
    };
    let db = PgDatabase::create();
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--postgres-url".to_owned(),
        db.url.clone(),
        "--redis-url".to_owned(),
        redis.url(),
        "--redis-prefix".to_owned(),
        unique_prefix(),
        "--metrics-listen".to_owned(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    let sidecar = Sidecar::start_with(dir.path(), &flags).await;

    let mut memory = sidecar.memory();
    for i in 0..20 {
        memory
            .append_messages(pb::AppendMessagesRequest {
                tenant_id: TENANT.into(),
                conversation_id: "c1".into(),
                user_id: "ana".into(),
                messages: vec![pb::NewMessage {
                    role: pb::Role::User as i32,
                    content: format!("mensagem {i}: quero remarcar a limpeza"),
                    ..Default::default()
                }],
            })
            .await
            .unwrap();
    }
    for _ in 0..10 {
        memory
            .compose_context(pb::ComposeContextRequest {
                tenant_id: TENANT.into(),
                conversation_id: "c1".into(),
                user_id: "ana".into(),
                input: "posso remarcar?".into(),
                token_budget: 500,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let refused = memory
        .compose_context(pb::ComposeContextRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // What Prometheus stored from its scrapes.
    let wait = Duration::from_secs(30);
    let appends =
        r#"engram_rpc_requests_total{service="MemoryService",method="AppendMessages",code="OK"}"#;
    eventually("Prometheus to scrape the appends", wait, || async {
        (prometheus.query(appends) == Some(20.0)).then_some(())
    })
    .await;
    let composes = r#"engram_rpc_duration_seconds_count{method="ComposeContext"}"#;
    eventually("the compose histogram", wait, || async {
        (prometheus.query(composes) == Some(11.0)).then_some(())
    })
    .await;
    let refused = r#"engram_rpc_requests_total{method="ComposeContext",code="INVALID_ARGUMENT"}"#;
    assert_eq!(prometheus.query(refused), Some(1.0));
    let tokens = r#"engram_compose_tokens_count{kind="composed"}"#;
    assert_eq!(prometheus.query(tokens), Some(10.0));
    let fast = r#"engram_rpc_duration_seconds_bucket{method="AppendMessages",le="10.0"}"#;
    assert_eq!(prometheus.query(fast), Some(20.0));
    let hot = r#"engram_backend_up{backend="hot"}"#;
    assert_eq!(prometheus.query(hot), Some(1.0));
    // Each backend call timed: one cold append per AppendMessages.
    let cold_appends =
        r#"engram_backend_call_duration_seconds_count{backend="postgres",call="cold.append"}"#;
    assert_eq!(prometheus.query(cold_appends), Some(20.0));
    // Reads by tier: the windows came from the near-cache or Redis once
    // the first read had repaired them.
    let tier_hits = r#"sum(engram_tier_reads_total{tier=~"near|hot",result="hit"})"#;
    assert!(prometheus.query(tier_hits).unwrap_or(0.0) > 0.0);
    let published = r#"engram_invalidations_total{event="published"}"#;
    assert!(prometheus.query(published).unwrap_or(0.0) >= 20.0);
    let subscription = r#"engram_backend_up{backend="subscription"}"#;
    assert_eq!(prometheus.query(subscription), Some(1.0));
    // Both background workers run (a panicked one would read 0).
    for worker in ["indexer", "handover"] {
        let running = format!(r#"engram_worker_running{{worker="{worker}"}}"#);
        assert_eq!(prometheus.query(&running), Some(1.0), "{worker}");
    }
    // The indexing backlog drains to nothing, and its lag with it.
    eventually("the indexing backlog to drain", wait, || async {
        (prometheus.query("engram_index_queue_depth") == Some(0.0)
            && prometheus.query("engram_index_lag_seconds") == Some(0.0)
            && prometheus.query("engram_handover_queue_depth") == Some(0.0))
        .then_some(())
    })
    .await;

    // promtool lints the exposition.
    let exposition = scrape(metrics_port);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // Redis gone: the hot tier's gauge drops, readiness (the cold store)
    // holds.
    redis.kill();
    eventually("the hot gauge to drop", wait, || async {
        (prometheus.query(hot) == Some(0.0)).then_some(())
    })
    .await;
    let cold = r#"engram_backend_up{backend="cold"}"#;
    assert_eq!(prometheus.query(cold), Some(1.0));
    eventually("the subscription gauge to drop", wait, || async {
        (prometheus.query(subscription) == Some(0.0)).then_some(())
    })
    .await;
}

/// One structured line per RPC at debug level, and plain text (no ANSI
/// colour codes) when the log is no terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_logs_are_one_plain_line_per_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("engram.log");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(["serve", "--log-format", "text", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("ENGRAM_LOG", "debug")
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = format!("http://127.0.0.1:{port}");
    eventually("engram to serve", Duration::from_secs(30), || async {
        let ok = Command::new(env!("CARGO_BIN_EXE_engram"))
            .args(["health", "--addr", &addr])
            .output()
            .ok()?
            .status
            .success();
        ok.then_some(())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "no ANSI codes in a file");
    let line = text
        .lines()
        .find(|l| l.contains(" rpc ") && l.contains("method=Check"))
        .expect("a line for the health check");
    assert!(
        line.contains("code=\"OK\"") && line.contains("micros="),
        "{line}"
    );
}
