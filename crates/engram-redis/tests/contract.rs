//! The Redis hot tier against the contract suite: on a standalone
//! redis-server and on a three-master cluster, both real processes; and
//! the near-cache in front of it, kept coherent by the invalidation bus,
//! as a sidecar runs it.

use std::time::Duration;

use engram_embedded::{EmbeddedHotTier, HotConfig};
use engram_redis::near::{Layered, NearGate};
use engram_redis::{RedisConfig, RedisHotTier, RedisInvalidations};

fn config(url: String, cluster: bool, window: usize) -> RedisConfig {
    RedisConfig {
        url,
        cluster,
        prefix: engram_testrig::unique_prefix(),
        window,
        hot_ttl: Duration::from_secs(60),
        warm_ttl: Duration::from_secs(3600),
        command_timeout: Duration::from_secs(2),
        tls_ca: None,
    }
}

async fn make(url: String, cluster: bool, window: usize) -> (RedisHotTier, ()) {
    let tier = RedisHotTier::connect(config(url, cluster, window)).expect("valid config");
    tier.wait_connected(Duration::from_secs(10))
        .await
        .expect("redis answers");
    (tier, ())
}

async fn make_standalone(window: usize) -> (RedisHotTier, ()) {
    make(engram_testrig::shared_server().url(), false, window).await
}

async fn make_cluster(window: usize) -> (RedisHotTier, ()) {
    let seeds = engram_testrig::shared_cluster()
        .urls()
        .replace("redis://", "");
    make(format!("redis-cluster://{seeds}"), false, window).await
}

mod standalone {
    use super::*;
    engram_contract::hot_tier_suite!(make_standalone);
}

mod cluster {
    use super::*;
    engram_contract::hot_tier_suite!(make_cluster);
}

async fn make_layered(
    window: usize,
) -> (
    Layered<EmbeddedHotTier, RedisHotTier, RedisInvalidations>,
    (),
) {
    let config = config(engram_testrig::shared_server().url(), false, window);
    let far = RedisHotTier::connect(config.clone()).expect("valid config");
    far.wait_connected(Duration::from_secs(10))
        .await
        .expect("redis answers");
    let near = EmbeddedHotTier::new(&HotConfig {
        window,
        hot_ttl: Duration::from_secs(60),
        warm_ttl: Duration::from_secs(3600),
        max_bytes: 64 << 20,
    });
    let gate = NearGate::default();
    let bus = RedisInvalidations::start(&config, near.clone(), gate.clone()).expect("subscribes");
    let tier = Layered::new(near, far, bus, gate);
    // The near-cache serves reads only once the subscription is up: wait
    // for it, so that the suite runs through it.
    for _ in 0..100 {
        if tier.near_in_use() {
            return (tier, ());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the invalidation subscription did not come up");
}

/// The near-cache over Redis, as every sidecar with `--redis-url` runs it.
mod layered {
    use super::*;
    engram_contract::hot_tier_suite!(make_layered);
}
