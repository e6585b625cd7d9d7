//! One endpoint of an OpenAI-compatible API: JSON POSTs with an optional
//! bearer token and a timeout, retried with backoff on transport errors,
//! 429 and 5xx.

use std::time::Duration;

use engram_backoff::Backoff;
use engram_domain::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::debug;

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    attempts: u32,
    /// Names the backend in errors: "embedder", "language model".
    backend: &'static str,
}

impl Endpoint {
    /// `base` is the API's base URL (`http://host:port/v1`), `path` the
    /// endpoint under it (`/embeddings`).
    pub fn new(
        backend: &'static str,
        base: &str,
        path: &str,
        api_key: Option<String>,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::unavailable(backend, e))?;
        Ok(Self {
            client,
            url: format!("{}{path}", base.trim_end_matches('/')),
            api_key,
            attempts: attempts.max(1),
            backend,
        })
    }

    pub fn unavailable(&self, detail: impl std::fmt::Display) -> Error {
        Error::unavailable(self.backend, detail)
    }

    /// Posts `body`, retrying what a retry may fix, and parses the answer.
    pub async fn post<B, R>(&self, body: &B) -> Result<R>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        const RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempt = 1;
        loop {
            match self.send(body).await {
                Ok(parsed) => return Ok(parsed),
                Err((error, retryable)) if retryable && attempt < self.attempts => {
                    debug!(backend = self.backend, attempt, error = %error.redacted(), "request failed; retrying");
                    tokio::time::sleep(RETRY.delay(attempt)).await;
                    attempt += 1;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Sends once; on failure, says whether a retry may help.
    async fn send<B, R>(&self, body: &B) -> std::result::Result<R, (Error, bool)>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let mut request = self.client.post(&self.url).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| (self.unavailable(e), true))?;
        let status = response.status();
        if !status.is_success() {
            let retryable = status.is_server_error() || status.as_u16() == 429;
            return Err((self.unavailable(format!("HTTP {status}")), retryable));
        }
        response
            .json()
            .await
            .map_err(|e| (self.unavailable(format!("unreadable answer: {e}")), false))
    }
}
