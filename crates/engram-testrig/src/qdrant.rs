//! A private Qdrant server from `ENGRAM_TEST_QDRANT_BIN`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{close, free_port, http_get, wait_until};

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
