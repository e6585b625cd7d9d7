//! The chat-completions client against the scripted endpoint of the test
//! rig (no language model installs from the registries these machines
//! reach): what it sends, what it returns, how it fails.

use std::time::Duration;

use engram_domain::Error;
use engram_domain::ports::{LanguageModel, Prompt};
use engram_models::{ChatConfig, HttpLanguageModel};
use engram_testrig::{ChatReply, ScriptedChat, free_port};

fn prompt() -> Prompt {
    Prompt {
        system: "Summarize.".to_owned(),
        user: "[2026-11-21 10:00] user: Sou alérgica a dipirona.".to_owned(),
        max_tokens: 200,
    }
}

fn client(url: String, timeout: Duration) -> HttpLanguageModel {
    let mut config = ChatConfig::new(url, "small-chat");
    config.api_key = Some("test-key".to_owned());
    config.timeout = timeout;
    HttpLanguageModel::new(config).unwrap()
}

#[tokio::test]
async fn sends_a_deterministic_chat_request_and_returns_the_answer() {
    let chat = ScriptedChat::start(ChatReply::Text("- Alergia: dipirona".to_owned()));
    let model = client(chat.url(), Duration::from_secs(5));
    assert_eq!(
        model.complete(&prompt()).await.unwrap(),
        "- Alergia: dipirona"
    );
    assert_eq!(model.model(), "small-chat");

    let sent = chat.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["model"], "small-chat");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Summarize.");
    assert_eq!(body["messages"][1]["role"], "user");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("dipirona")
    );
}

#[tokio::test]
async fn retries_a_server_error_then_reports_unavailable() {
    let chat = ScriptedChat::start(ChatReply::Status(503));
    let model = client(chat.url(), Duration::from_secs(5));
    let error = model.complete(&prompt()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert_eq!(chat.requests().len(), 2, "two attempts");

    // A client error is not retried.
    chat.set(ChatReply::Status(400));
    assert!(model.complete(&prompt()).await.is_err());
    assert_eq!(chat.requests().len(), 3);
}

#[tokio::test]
async fn a_slow_or_absent_server_is_unavailable() {
    let chat = ScriptedChat::start(ChatReply::Slow(Duration::from_secs(3), "late".to_owned()));
    let mut config = ChatConfig::new(chat.url(), "small-chat");
    config.timeout = Duration::from_millis(200);
    config.attempts = 1;
    let model = HttpLanguageModel::new(config).unwrap();
    assert!(matches!(
        model.complete(&prompt()).await,
        Err(Error::Unavailable { .. })
    ));

    let nobody = client(
        format!("http://127.0.0.1:{}/v1", free_port()),
        Duration::from_secs(1),
    );
    assert!(matches!(
        nobody.complete(&prompt()).await,
        Err(Error::Unavailable { .. })
    ));
}
