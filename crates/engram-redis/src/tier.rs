//! The Redis hot/warm tier.

use std::time::Duration;

use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{Conversation, Message, RecentWindow};
use engram_domain::ports::{FactSnapshot, HotTier};
use engram_domain::{Error, Result};
use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::config::ReconnectPolicy;
use fred::types::scripts::Script;
use fred::types::{Builder, MultipleKeys};

use crate::config::RedisConfig;
use crate::{scripts, slot};

const BACKEND: &str = "redis";

/// The Redis hot/warm tier: conversation windows (hot TTL) and current facts
/// (warm TTL), with revision fences kept atomically by Lua scripts. All keys
/// of a conversation (or a user) share one cluster hash tag.
///
/// A window is a fenced meta slot (the Conversation) and a list of message
/// JSON: an append pushes only its new messages, in one round trip.
#[derive(Clone)]
pub struct RedisHotTier {
    client: Client,
    put: Script,
    fence: Script,
    window_read: Script,
    window_put: Script,
    window_extend: Script,
    window_fence: Script,
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
            window_read: Script::from_lua(scripts::WINDOW_READ),
            window_put: Script::from_lua(scripts::WINDOW_PUT),
            window_extend: Script::from_lua(scripts::WINDOW_EXTEND),
            window_fence: Script::from_lua(scripts::WINDOW_FENCE),
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

    /// The window's meta slot and message list (one hash tag).
    fn window_keys(&self, tenant: &TenantId, conversation: &ConversationId) -> Vec<String> {
        let tag = format!("{}:{{{tenant}:c:{conversation}}}", self.config.prefix);
        vec![format!("{tag}:w"), format!("{tag}:m")]
    }

    fn facts_key(&self, tenant: &TenantId, user: &UserId) -> String {
        format!("{}:{{{tenant}:u:{user}}}:f", self.config.prefix)
    }

    async fn run(
        &self,
        script: &Script,
        keys: impl Into<MultipleKeys> + Send,
        args: Vec<String>,
    ) -> Result<()> {
        self.ensure_connected()?;
        script
            .evalsha_with_reload::<i64, _, _>(&self.client, keys, args)
            .await
            .map(drop)
            .map_err(redis)
    }

    fn trim<'a>(&self, messages: &'a [Message]) -> &'a [Message] {
        &messages[messages.len().saturating_sub(self.config.window.max(1))..]
    }

    fn message_args(messages: &[Message]) -> Result<Vec<String>> {
        messages
            .iter()
            .map(|m| {
                serde_json::to_string(m).map_err(|e| Error::Internal(format!("encoding: {e}")))
            })
            .collect()
    }
}

impl HotTier for RedisHotTier {
    #[tracing::instrument(
        name = "hot.recent",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn recent(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<RecentWindow>> {
        self.ensure_connected()?;
        let found: Option<(String, Vec<String>)> = self
            .window_read
            .evalsha_with_reload(
                &self.client,
                self.window_keys(tenant, conversation),
                Vec::<String>::new(),
            )
            .await
            .map_err(redis)?;
        let Some((meta, raw)) = found else {
            return Ok(None);
        };
        let Some((_, conversation)) = slot::decode::<Conversation>(Some(meta))? else {
            return Ok(None);
        };
        let messages = raw
            .iter()
            .map(|m| {
                serde_json::from_str(m)
                    .map_err(|e| Error::Internal(format!("corrupt hot-tier message: {e}")))
            })
            .collect::<Result<Vec<Message>>>()?;
        // A list evicted apart from its meta reads as a miss.
        let expected = (self.config.window as u64).min(conversation.message_count);
        if (messages.len() as u64) < expected {
            return Ok(None);
        }
        Ok(Some(RecentWindow {
            conversation,
            messages,
        }))
    }

    #[tracing::instrument(
        name = "hot.put_recent",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn put_recent(&self, tenant: &TenantId, window: RecentWindow) -> Result<()> {
        let rev = window.conversation.last_seq;
        let keys = self.window_keys(tenant, &window.conversation.conversation_id);
        let mut args = vec![
            rev.to_string(),
            slot::value(rev, &window.conversation)?,
            millis(self.config.hot_ttl).to_string(),
            self.config.window.max(1).to_string(),
        ];
        args.extend(Self::message_args(self.trim(&window.messages))?);
        self.run(&self.window_put, keys, args).await
    }

    /// One round trip: pushes the new messages when the cached window ends
    /// right before them, fences otherwise.
    #[tracing::instrument(
        name = "hot.extend_recent",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn extend_recent(
        &self,
        tenant: &TenantId,
        conversation: &Conversation,
        messages: &[Message],
    ) -> Result<()> {
        let keys = self.window_keys(tenant, &conversation.conversation_id);
        let first_seq = messages.first().map_or(conversation.last_seq, |m| m.seq);
        let mut args = vec![
            first_seq.saturating_sub(1).to_string(),
            conversation.last_seq.to_string(),
            slot::value(conversation.last_seq, conversation)?,
            millis(self.config.hot_ttl).to_string(),
            self.config.window.max(1).to_string(),
        ];
        args.extend(Self::message_args(self.trim(messages))?);
        self.run(&self.window_extend, keys, args).await
    }

    #[tracing::instrument(
        name = "hot.fence_conversation",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn fence_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        rev: u64,
    ) -> Result<()> {
        let keys = self.window_keys(tenant, conversation);
        let ttl = millis(self.config.hot_ttl).to_string();
        self.run(&self.window_fence, keys, vec![rev.to_string(), ttl])
            .await
    }

    #[tracing::instrument(
        name = "hot.facts",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn facts(&self, tenant: &TenantId, user: &UserId) -> Result<Option<FactSnapshot>> {
        self.ensure_connected()?;
        let raw: Option<String> = self
            .client
            .get(self.facts_key(tenant, user))
            .await
            .map_err(redis)?;
        Ok(slot::decode::<FactSnapshot>(raw)?.map(|(_, s)| s))
    }

    #[tracing::instrument(
        name = "hot.put_facts",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
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

    #[tracing::instrument(
        name = "hot.fence_facts",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn fence_facts(&self, tenant: &TenantId, user: &UserId, rev: u64) -> Result<()> {
        let key = self.facts_key(tenant, user);
        let ttl = millis(self.config.warm_ttl).to_string();
        self.run(&self.fence, key, vec![rev.to_string(), ttl]).await
    }

    #[tracing::instrument(
        name = "hot.ping",
        level = "info",
        skip_all,
        fields(backend = "redis"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        self.ensure_connected()?;
        self.client
            .ping::<String>(None)
            .await
            .map(drop)
            .map_err(redis)
    }
}
