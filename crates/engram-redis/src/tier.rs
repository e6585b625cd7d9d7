//! The Redis hot/warm tier.

use std::time::Duration;

use engram_core::ids::{ConversationId, TenantId, UserId};
use engram_core::model::{Conversation, Message, RecentWindow};
use engram_core::ports::{FactSnapshot, HotTier};
use engram_core::{Error, Result};
use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::Builder;
use fred::types::config::ReconnectPolicy;
use fred::types::scripts::Script;

use crate::config::RedisConfig;
use crate::{scripts, slot};

const BACKEND: &str = "redis";

/// The Redis hot/warm tier: conversation windows (hot TTL) and current facts
/// (warm TTL), with revision fences kept atomically by Lua scripts. All keys
/// of a conversation (or a user) share one cluster hash tag.
#[derive(Clone)]
pub struct RedisHotTier {
    client: Client,
    put: Script,
    fence: Script,
    replace: Script,
    config: RedisConfig,
}

impl std::fmt::Debug for RedisHotTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHotTier")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

pub(crate) fn redis(e: fred::error::Error) -> Error {
    Error::unavailable(BACKEND, e)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisHotTier {
    /// Starts connecting in the background and returns at once: engram
    /// serves from the cold store while Redis is unreachable, and uses Redis
    /// again as soon as it answers.
    pub fn connect(config: RedisConfig) -> Result<Self> {
        let client = Builder::from_config(config.fred()?)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 2;
            })
            .with_performance_config(|p| p.default_command_timeout = config.command_timeout)
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
            .build()
            .map_err(redis)?;
        client.connect();
        Ok(Self {
            client,
            put: Script::from_lua(scripts::PUT),
            fence: Script::from_lua(scripts::FENCE),
            replace: Script::from_lua(scripts::REPLACE),
            config,
        })
    }

    /// Waits until the first connection is up (tests, startup probes).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        tokio::time::timeout(timeout, self.client.wait_for_connect())
            .await
            .map_err(|_| Error::unavailable(BACKEND, "not connected"))?
            .map_err(redis)
    }

    /// Fails fast while disconnected rather than queueing the command.
    fn ensure_connected(&self) -> Result<()> {
        if self.client.is_connected() {
            Ok(())
        } else {
            Err(Error::unavailable(BACKEND, "not connected"))
        }
    }

    pub(crate) fn window_key(&self, tenant: &TenantId, conversation: &ConversationId) -> String {
        format!("{}:{{{tenant}:c:{conversation}}}:w", self.config.prefix)
    }

    pub(crate) fn facts_key(&self, tenant: &TenantId, user: &UserId) -> String {
        format!("{}:{{{tenant}:u:{user}}}:f", self.config.prefix)
    }

    async fn get(&self, key: String) -> Result<Option<String>> {
        self.ensure_connected()?;
        self.client.get(key).await.map_err(redis)
    }

    async fn run(&self, script: &Script, key: String, args: Vec<String>) -> Result<()> {
        self.ensure_connected()?;
        script
            .evalsha_with_reload::<i64, _, _>(&self.client, key, args)
            .await
            .map(drop)
            .map_err(redis)
    }

    fn trim(&self, mut messages: Vec<Message>) -> Vec<Message> {
        let excess = messages.len().saturating_sub(self.config.window.max(1));
        messages.drain(..excess);
        messages
    }
}

impl HotTier for RedisHotTier {
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        let raw = self.get(self.window_key(tenant, conversation)).await?;
        Ok(slot::decode::<RecentWindow>(raw)?.map(|(_, w)| w))
    }

    async fn put_recent(&self, tenant: &TenantId, mut window: RecentWindow) -> Result<()> {
        window.messages = self.trim(window.messages);
        let rev = window.conversation.last_seq;
        let key = self.window_key(tenant, &window.conversation.conversation_id);
        let value = slot::value(rev, &window)?;
        let ttl = millis(self.config.hot_ttl);
        self.run(
            &self.put,
            key,
            vec![rev.to_string(), value, ttl.to_string()],
        )
        .await
    }

    async fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> Result<()> {
        let key = self.window_key(tenant, &conversation.conversation_id);
        let ttl = millis(self.config.hot_ttl).to_string();
        let first_seq = messages.first().map_or(conversation.last_seq, |m| m.seq);
        let cached = slot::decode::<RecentWindow>(self.get(key.clone()).await?)?;
        match cached {
            Some((rev, window)) if rev + 1 == first_seq => {
                let mut all = window.messages;
                all.extend_from_slice(messages);
                let extended = RecentWindow {
                    conversation: conversation.clone(),
                    messages: self.trim(all),
                };
                let value = slot::value(conversation.last_seq, &extended)?;
                let args = vec![
                    rev.to_string(),
                    conversation.last_seq.to_string(),
                    value,
                    ttl,
                ];
                self.run(&self.replace, key, args).await
            }
            _ => {
                self.run(
                    &self.fence,
                    key,
                    vec![conversation.last_seq.to_string(), ttl],
                )
                .await
            }
        }
    }

    async fn fence_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rev: u64,
    ) -> Result<()> {
        let key = self.window_key(tenant, conversation);
        let ttl = millis(self.config.hot_ttl).to_string();
        self.run(&self.fence, key, vec![rev.to_string(), ttl]).await
    }

    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        let raw = self.get(self.facts_key(tenant, user)).await?;
        Ok(slot::decode::<FactSnapshot>(raw)?.map(|(_, s)| s))
    }

    async fn put_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
        snapshot: FactSnapshot,
    ) -> Result<()> {
        let key = self.facts_key(tenant, user);
        let value = slot::value(snapshot.rev, &snapshot)?;
        let ttl = millis(self.config.warm_ttl);
        self.run(
            &self.put,
            key,
            vec![snapshot.rev.to_string(), value, ttl.to_string()],
        )
        .await
    }

    async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) -> Result<()> {
        let key = self.facts_key(tenant, user);
        let ttl = millis(self.config.warm_ttl).to_string();
        self.run(&self.fence, key, vec![rev.to_string(), ttl]).await
    }

    async fn ping(&self) -> Result<()> {
        self.ensure_connected()?;
        self.client
            .ping::<String>(None)
            .await
            .map(drop)
            .map_err(redis)
    }
}
