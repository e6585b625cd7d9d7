//! A private Prometheus server that scrapes what a test names.

use std::process::{Child, Command};
use std::time::Duration;

use crate::{close, free_port, http_get, wait_until, watchdog};

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
