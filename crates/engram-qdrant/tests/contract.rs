//! The Qdrant index against the semantic-index contract, on a real Qdrant
//! server: the test rig's private one (`ENGRAM_TEST_QDRANT_BIN`, or
//! `qdrant` on `PATH`), or the one `ENGRAM_TEST_QDRANT_URL` names (gRPC,
//! e.g. `http://127.0.0.1:6334`). Without either the cases print SKIPPED.
//! Each case uses its own collection, dropped afterwards.

use std::sync::atomic::{AtomicU64, Ordering};

use engram_qdrant::{QdrantConfig, QdrantIndex};

/// Drops the case's collection when the case ends.
struct DropCollection(QdrantConfig, usize);

impl Drop for DropCollection {
    fn drop(&mut self) {
        let (config, dimension) = (self.0.clone(), self.1);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                if let Ok(index) = QdrantIndex::connect(&config, "contract", dimension).await {
                    let _ = index.drop_collection().await;
                }
            })
        });
    }
}

async fn make_index(dimension: usize) -> Option<(QdrantIndex, DropCollection)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = match std::env::var("ENGRAM_TEST_QDRANT_URL") {
        Ok(url) => url,
        Err(_) => engram_testrig::shared_qdrant()?.url(),
    };
    let config = QdrantConfig {
        url,
        api_key: std::env::var("ENGRAM_TEST_QDRANT_API_KEY").ok(),
        collection_prefix: format!(
            "engram_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
    };
    let index = QdrantIndex::connect(&config, "contract", dimension)
        .await
        .expect("the Qdrant server answers");
    Some((index, DropCollection(config, dimension)))
}

mod index {
    use super::*;
    engram_contract::semantic_index_suite!(optional make_index);
}
