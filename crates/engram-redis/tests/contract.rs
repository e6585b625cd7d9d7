//! The Redis hot tier against the contract suite: on a standalone
//! redis-server and on a three-master cluster, both real processes.

use std::time::Duration;

use engram_redis::{RedisConfig, RedisHotTier};

async fn make(url: String, cluster: bool, window: usize) -> (RedisHotTier, ()) {
    let tier = RedisHotTier::connect(RedisConfig {
        url,
        cluster,
        prefix: engram_testrig::unique_prefix(),
        window,
        hot_ttl: Duration::from_secs(60),
        warm_ttl: Duration::from_secs(3600),
        command_timeout: Duration::from_secs(2),
        tls_ca: None,
    })
    .expect("valid config");
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
