//! Cross-sidecar invalidation over Redis sharded pub/sub (SPUBLISH /
//! SSUBSCRIBE: in a cluster each channel lives on the node of its slot).
//!
//! A write announces `(tenant, key, revision)` on one of a fixed set of
//! channels; every sidecar subscribes to all of them and fences its
//! near-cache at that revision. The near-cache gate is open only while the
//! subscription is known to be live: a disconnect, a reconnect or a lagging
//! receiver closes it (and clears the near-cache) until the sidecar has
//! subscribed again.

use std::time::Duration;

use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::ports::{Invalidation, InvalidationBus, NearCache};
use engram_domain::{Error, Result};
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::Builder;
use fred::types::config::ReconnectPolicy;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{info, warn};

use crate::near::NearGate;

use crate::config::RedisConfig;
use crate::tier::redis;

/// Channels the invalidations are spread over (each its own hash slot).
const CHANNELS: u64 = 16;
/// How often the subscription's health is checked.
const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// Publishes this sidecar's invalidations.
#[derive(Clone)]
pub struct RedisInvalidations {
    publisher: Client,
    prefix: String,
    instance: String,
}

impl std::fmt::Debug for RedisInvalidations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisInvalidations")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn channel(prefix: &str, n: u64) -> String {
    format!("{prefix}:inv{{{n}}}")
}

fn fnv(parts: &[&str]) -> u64 {
    engram_text::fnv1a(parts.iter().flat_map(|p| p.bytes().chain([b'|'])))
}

/// `instance|c|tenant|conversation|rev` or `instance|f|tenant|user|rev`;
/// ids never hold '|'.
fn encode(instance: &str, invalidation: &Invalidation) -> (u64, String) {
    let (kind, tenant, id, rev) = match invalidation {
        Invalidation::Conversation {
            tenant,
            conversation,
            rev,
        } => ("c", tenant.as_str(), conversation.as_str(), rev),
        Invalidation::Facts { tenant, user, rev } => ("f", tenant.as_str(), user.as_str(), rev),
    };
    (
        fnv(&[tenant, id]) % CHANNELS,
        format!("{instance}|{kind}|{tenant}|{id}|{rev}"),
    )
}

/// The invalidation in a payload, unless it is malformed or our own.
fn decode(instance: &str, payload: &str) -> Option<Invalidation> {
    let mut parts = payload.split('|');
    let (from, kind, tenant, id, rev) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if from == instance || parts.next().is_some() {
        return None;
    }
    let tenant = TenantId::parse("tenant", tenant).ok()?;
    let rev = rev.parse().ok()?;
    match kind {
        "c" => Some(Invalidation::Conversation {
            tenant,
            conversation: ConversationId::parse("conversation", id).ok()?,
            rev,
        }),
        "f" => Some(Invalidation::Facts {
            tenant,
            user: UserId::parse("user", id).ok()?,
            rev,
        }),
        _ => None,
    }
}

async fn apply(near: &impl NearCache, invalidation: Invalidation) {
    let result = match &invalidation {
        Invalidation::Conversation {
            tenant,
            conversation,
            rev,
        } => near.fence_conversation(tenant, conversation, *rev).await,
        Invalidation::Facts { tenant, user, rev } => near.fence_facts(tenant, user, *rev).await,
    };
    if let Err(error) = result {
        warn!(error = %error.redacted(), "near-cache fence failed");
    }
}

fn client_builder(config: &RedisConfig) -> Result<Builder> {
    let mut builder = Builder::from_config(config.fred()?);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = config.command_timeout;
            p.broadcast_channel_capacity = 4096;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2));
    Ok(builder)
}

impl RedisInvalidations {
    /// Connects the publisher and starts the subscriber, which fences `near`
    /// on every other sidecar's invalidation and keeps `gate` open only
    /// while it is subscribed.
    pub fn start<N: NearCache + Clone>(
        config: &RedisConfig,
        near: N,
        gate: NearGate,
    ) -> Result<Self> {
        let instance = format!(
            "{:016x}",
            fnv(&[
                &format!("{:?}", std::time::SystemTime::now()),
                &std::process::id().to_string()
            ])
        );
        let publisher = client_builder(config)?.build().map_err(redis)?;
        publisher.connect();
        let subscriber = client_builder(config)?
            .build_subscriber_client()
            .map_err(redis)?;
        subscriber.connect();
        let channels: Vec<String> = (0..CHANNELS).map(|n| channel(&config.prefix, n)).collect();
        tokio::spawn(listen(
            subscriber.clone(),
            instance.clone(),
            near.clone(),
            gate.clone(),
        ));
        tokio::spawn(watch(subscriber, channels, near, gate));
        Ok(Self {
            publisher,
            prefix: config.prefix.clone(),
            instance,
        })
    }
}

/// Fences the near-cache on each invalidation; a lagging receiver has lost
/// some, so it resets the gate.
async fn listen<N: NearCache>(
    subscriber: SubscriberClient,
    instance: String,
    near: N,
    gate: NearGate,
) {
    let mut messages = subscriber.message_rx();
    loop {
        match messages.recv().await {
            Ok(message) => {
                let Some(payload) = message.value.as_string() else {
                    continue;
                };
                if let Some(invalidation) = decode(&instance, &payload) {
                    engram_domain::observe::invalidation("received");
                    apply(&near, invalidation).await;
                }
            }
            Err(RecvError::Lagged(missed)) => {
                warn!(missed, "invalidations lagged; near-cache reset");
                gate.close(&near);
                gate.open(&near);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Closes the gate whenever the subscriber is (or was, since the last look)
/// disconnected, and opens it again once subscribed to every channel.
async fn watch<N: NearCache>(
    subscriber: SubscriberClient,
    channels: Vec<String>,
    near: N,
    gate: NearGate,
) {
    let mut reconnects = subscriber.reconnect_rx();
    let mut failing = false;
    loop {
        let mut reconnected = false;
        while let Ok(()) | Err(TryRecvError::Lagged(_)) = reconnects.try_recv().map(drop) {
            reconnected = true;
        }
        if (reconnected || !subscriber.is_connected()) && gate.is_open() {
            gate.close(&near);
            warn!("invalidation subscription lost: near-cache bypassed");
        }
        if subscriber.is_connected() && !gate.is_open() {
            match subscribe(&subscriber, &channels).await {
                Ok(()) => {
                    gate.open(&near);
                    failing = false;
                    info!("invalidation subscription up: near-cache in use");
                }
                Err(error) if !failing => {
                    failing = true;
                    warn!(%error, "cannot subscribe to invalidations; near-cache bypassed");
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(WATCH_PERIOD).await;
    }
}

/// One SSUBSCRIBE per channel: in a cluster the channels live in different
/// slots, and one command over several would be refused (CROSSSLOT).
async fn subscribe(
    subscriber: &SubscriberClient,
    channels: &[String],
) -> Result<(), fred::error::Error> {
    for channel in channels {
        subscriber.ssubscribe(channel.clone()).await?;
    }
    Ok(())
}

impl InvalidationBus for RedisInvalidations {
    async fn publish(&self, invalidation: Invalidation) -> Result<()> {
        if !self.publisher.is_connected() {
            return Err(Error::unavailable("redis", "not connected"));
        }
        let (n, payload) = encode(&self.instance, &invalidation);
        self.publisher
            .spublish::<i64, _, _>(channel(&self.prefix, n), payload)
            .await
            .map(drop)
            .map_err(redis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_own_ones_are_skipped() {
        let inv = Invalidation::Conversation {
            tenant: TenantId::parse("t", "acme").unwrap(),
            conversation: ConversationId::parse("c", "wa:+55/1").unwrap(),
            rev: 42,
        };
        let (n, payload) = encode("me", &inv);
        assert!(n < CHANNELS);
        assert_eq!(payload, "me|c|acme|wa:+55/1|42");
        assert_eq!(decode("other", &payload), Some(inv));
        assert_eq!(decode("me", &payload), None);
        assert_eq!(decode("x", "garbage"), None);
        assert_eq!(decode("x", "a|z|acme|u|1"), None);
    }
}
