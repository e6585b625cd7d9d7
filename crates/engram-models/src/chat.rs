//! A language model behind an OpenAI-compatible `/v1/chat/completions`
//! endpoint: OpenAI itself, Ollama, vLLM, llama.cpp's server. Writes the
//! optional LLM summaries; deterministic settings (temperature 0).

use std::time::Duration;

use engram_domain::Result;
use engram_domain::ports::{BoxFuture, LanguageModel, Prompt};
use serde::{Deserialize, Serialize};

use crate::api::Endpoint;

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Base URL of the API, e.g. `http://127.0.0.1:11434/v1`;
    /// `/chat/completions` is appended.
    pub url: String,
    pub model: String,
    /// Sent as a bearer token when set.
    pub api_key: Option<String>,
    /// Longest wait for one request.
    pub timeout: Duration,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
}

impl ChatConfig {
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(30),
            attempts: 2,
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    max_tokens: u32,
    temperature: f32,
    stream: bool,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Answer,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    content: Option<String>,
}

/// The OpenAI-compatible chat-completions client.
#[derive(Debug, Clone)]
pub struct HttpLanguageModel {
    endpoint: Endpoint,
    model: String,
}

impl HttpLanguageModel {
    pub fn new(config: ChatConfig) -> Result<Self> {
        Ok(Self {
            endpoint: Endpoint::new(
                "language model",
                &config.url,
                "/chat/completions",
                config.api_key,
                config.timeout,
                config.attempts,
            )?,
            model: config.model,
        })
    }

    #[tracing::instrument(
        name = "model.complete",
        level = "info",
        skip_all,
        fields(backend = "http"),
        err(level = "debug", Debug)
    )]
    async fn ask(&self, prompt: &Prompt) -> Result<String> {
        let body = Request {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: &prompt.system,
                },
                ChatMessage {
                    role: "user",
                    content: &prompt.user,
                },
            ],
            max_tokens: prompt.max_tokens,
            temperature: 0.0,
            stream: false,
        };
        let response: Response = self.endpoint.post(&body).await?;
        response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| {
                self.endpoint
                    .unavailable("the answer has no message content")
            })
    }
}

impl LanguageModel for HttpLanguageModel {
    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(&'a self, prompt: &'a Prompt) -> BoxFuture<'a, Result<String>> {
        Box::pin(self.ask(prompt))
    }
}
