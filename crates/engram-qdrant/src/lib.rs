//! engram's semantic index on Qdrant: one collection per index name (the
//! embedding model and how passages are built, `ports::index_name`),
//! shared by every sidecar and tenant, with a tenant payload index
//! (`is_tenant`, so Qdrant lays each tenant's points out together) and
//! payload indexes for user, conversation, role and time. Every search and
//! deletion filters on the tenant first: no call can reach another
//! tenant's points, whatever ids it is given.
//!
//! Point ids are derived from (tenant, conversation, seq) with SHA-256, so
//! an upsert of the same message replaces its point.
//!
//! HNSW: no collection-wide graph (`m = 0`), a graph per tenant
//! (`payload_m = 16`, Qdrant's default degree), as Qdrant's multitenancy
//! guide advises when every query is filtered by tenant — engram's always
//! are, and further by user, whose few thousand points Qdrant's planner
//! scans exactly through the user payload index. A collection-wide graph
//! would only cost indexing time and memory.
//!
//! Depends on the core only.

use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{MessageFilter, Scope};
use engram_domain::ports::{IndexHit, IndexPoint, SemanticIndex, model_slug};
use engram_domain::{Error, Result};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, HnswConfigDiffBuilder,
    KeywordIndexParamsBuilder, PointStruct, Range, SearchPointsBuilder, UpsertPointsBuilder,
    VectorParamsBuilder, value::Kind,
};

const TENANT: &str = "tenant";
const USER: &str = "user";
const CONVERSATION: &str = "conversation";
const SEQ: &str = "seq";
const ROLE: &str = "role";
const CREATED_AT: &str = "created_at";

/// How to reach Qdrant.
#[derive(Debug, Clone)]
pub struct QdrantConfig {
    /// gRPC URL, e.g. `http://127.0.0.1:6334`.
    pub url: String,
    pub api_key: Option<String>,
    /// Collections are named `<prefix>_<model>`.
    pub collection_prefix: String,
}

/// The Qdrant semantic index of one embedding model.
pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    dimension: usize,
}

impl std::fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("collection", &self.collection)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::unavailable("qdrant", tidy(&e.to_string()))
}

/// qdrant-client writes a failed connection's transport error into its
/// message with `{:?}` (a page of Rust debug output): keep what it says,
/// "Failed to connect to URL", and the cause's own words.
fn tidy(text: &str) -> String {
    let Some(at) = text.find(": tonic::transport::Error") else {
        return text.to_owned();
    };
    let head = text[..at]
        .trim_start_matches("Error in the response: ")
        .trim_start_matches("Internal error ");
    let cause = text[at..]
        .split("message: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    match cause {
        Some(cause) => format!("{head}: {cause}"),
        None => head.to_owned(),
    }
}

/// A collection name from a prefix and an index name.
pub fn collection_name(prefix: &str, index: &str) -> String {
    format!("{prefix}_{}", model_slug(index))
}

/// The point id of a message: a UUID from SHA-256 of its position.
fn point_id(tenant: &TenantId, conversation: &ConversationId, seq: u64) -> String {
    let mut input = Vec::new();
    for part in [tenant.as_str(), conversation.as_str()] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    input.extend_from_slice(&seq.to_be_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

impl QdrantIndex {
    /// Connects, and creates the collection of the index named `index`
    /// (`ports::index_name`: the model, and how passages are built) and its
    /// payload indexes when they do not exist.
    pub async fn connect(config: &QdrantConfig, index: &str, dimension: usize) -> Result<Self> {
        // No version check: the client's prints it on stdout, into the
        // JSON log stream, and waits for the server while doing so.
        let mut builder = Qdrant::from_url(&config.url).skip_compatibility_check();
        if let Some(key) = &config.api_key {
            builder = builder.api_key(key.clone());
        }
        let client = builder.build().map_err(unavailable)?;
        let collection = collection_name(&config.collection_prefix, index);
        let index = Self {
            client,
            collection,
            dimension,
        };
        index.ensure_collection().await?;
        Ok(index)
    }

    async fn ensure_collection(&self) -> Result<()> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(unavailable)?;
        if !exists {
            let create = self
                .client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection)
                        .vectors_config(VectorParamsBuilder::new(
                            self.dimension as u64,
                            Distance::Cosine,
                        ))
                        .hnsw_config(HnswConfigDiffBuilder::default().m(0).payload_m(16)),
                )
                .await;
            // Another sidecar may have created it meanwhile.
            if let Err(error) = create
                && !self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .map_err(unavailable)?
            {
                return Err(unavailable(error));
            }
        }
        let fields = [
            (TENANT, FieldType::Keyword, true),
            (USER, FieldType::Keyword, false),
            (CONVERSATION, FieldType::Keyword, false),
            (ROLE, FieldType::Keyword, false),
            (CREATED_AT, FieldType::Integer, false),
        ];
        for (field, kind, is_tenant) in fields {
            let mut request =
                CreateFieldIndexCollectionBuilder::new(&self.collection, field, kind).wait(true);
            if is_tenant {
                request = request
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true));
            }
            self.client
                .create_field_index(request)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Drops the collection (tests).
    pub async fn drop_collection(&self) -> Result<()> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    fn scope_filter(tenant: &TenantId, scope: &Scope, filter: &MessageFilter) -> Filter {
        let mut must = vec![
            Condition::matches(TENANT, tenant.as_str().to_owned()),
            Condition::matches(USER, scope.user().as_str().to_owned()),
        ];
        if let Scope::Conversation(_, conversation) = scope {
            must.push(Condition::matches(
                CONVERSATION,
                conversation.as_str().to_owned(),
            ));
        }
        if !filter.roles.is_empty() {
            let roles: Vec<String> = filter.roles.iter().map(|r| r.as_str().to_owned()).collect();
            must.push(Condition::matches(ROLE, roles));
        }
        if filter.from.is_some() || filter.until.is_some() {
            must.push(Condition::range(
                CREATED_AT,
                Range {
                    gte: filter.from.map(|t| t.0 as f64),
                    lt: filter.until.map(|t| t.0 as f64),
                    ..Default::default()
                },
            ));
        }
        Filter::must(must)
    }

    fn user_filter(tenant: &TenantId, user: &UserId) -> Filter {
        Filter::must([
            Condition::matches(TENANT, tenant.as_str().to_owned()),
            Condition::matches(USER, user.as_str().to_owned()),
        ])
    }

    async fn count_matching(&self, filter: Filter) -> Result<u64> {
        Ok(self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(filter)
                    .exact(true),
            )
            .await
            .map_err(unavailable)?
            .result
            .map_or(0, |r| r.count))
    }

    /// Removes the points matching `filter`; returns how many there were.
    async fn delete_matching(&self, filter: Filter) -> Result<u64> {
        let count = self.count_matching(filter.clone()).await?;
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    fn conversation_filter(
        tenant: &TenantId,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Filter {
        Filter::must([
            Condition::matches(TENANT, tenant.as_str().to_owned()),
            Condition::matches(USER, user.as_str().to_owned()),
            Condition::matches(CONVERSATION, conversation.as_str().to_owned()),
        ])
    }
}

impl SemanticIndex for QdrantIndex {
    #[tracing::instrument(
        name = "index.upsert",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn upsert(&self, tenant: &TenantId, points: Vec<IndexPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            if p.vector.len() != self.dimension {
                return Err(Error::Internal(format!(
                    "vector of {} dimensions for an index of {}",
                    p.vector.len(),
                    self.dimension
                )));
            }
            let payload: [(&str, qdrant_client::qdrant::Value); 6] = [
                (TENANT, tenant.as_str().into()),
                (USER, p.user_id.as_str().into()),
                (CONVERSATION, p.conversation_id.as_str().into()),
                (SEQ, (p.seq as i64).into()),
                (ROLE, p.role.as_str().into()),
                (CREATED_AT, p.created_at.0.into()),
            ];
            structs.push(PointStruct::new(
                point_id(tenant, &p.conversation_id, p.seq),
                p.vector,
                payload,
            ));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
            .await
            .map(drop)
            .map_err(unavailable)
    }

    #[tracing::instrument(
        name = "index.search",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn search(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        vector: &[f32],
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<IndexHit>> {
        let reply = self
            .client
            .search_points(
                SearchPointsBuilder::new(&self.collection, vector.to_vec(), limit as u64)
                    .filter(Self::scope_filter(tenant, scope, filter))
                    .with_payload(true),
            )
            .await
            .map_err(unavailable)?;
        let mut hits = Vec::with_capacity(reply.result.len());
        for point in reply.result {
            let text = |key: &str| match point.payload.get(key).and_then(|v| v.kind.as_ref()) {
                Some(Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            };
            let seq = match point.payload.get(SEQ).and_then(|v| v.kind.as_ref()) {
                Some(Kind::IntegerValue(n)) => *n as u64,
                _ => continue,
            };
            // Belt and braces: the filter already holds these.
            if text(TENANT).as_deref() != Some(tenant.as_str()) {
                continue;
            }
            let Some(conversation) =
                text(CONVERSATION).and_then(|c| ConversationId::parse("conversation_id", &c).ok())
            else {
                continue;
            };
            hits.push(IndexHit {
                conversation_id: conversation,
                seq,
                score: point.score,
            });
        }
        Ok(hits)
    }

    #[tracing::instrument(
        name = "index.delete_conversation",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<u64> {
        self.delete_matching(Self::conversation_filter(tenant, user, conversation))
            .await
    }

    #[tracing::instrument(
        name = "index.delete_user",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn delete_user(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        self.delete_matching(Self::user_filter(tenant, user)).await
    }

    #[tracing::instrument(
        name = "index.count_user",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn count_user(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        self.count_matching(Self::user_filter(tenant, user)).await
    }

    #[tracing::instrument(
        name = "index.ping",
        level = "info",
        skip_all,
        fields(backend = "qdrant"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        self.client
            .health_check()
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connection_reads_as_one_sentence() {
        let raw = "Error in the response: Internal error Failed to connect to \
                   http://127.0.0.1:1/: tonic::transport::Error(Transport, ConnectError(\
                   ConnectError(\"tcp connect error\", 127.0.0.1:1, Os { code: 111, kind: \
                   ConnectionRefused, message: \"Connection refused\" }))) MetadataMap { \
                   headers: {} }";
        assert_eq!(
            tidy(raw),
            "Failed to connect to http://127.0.0.1:1/: Connection refused"
        );
        assert_eq!(tidy("collection not found"), "collection not found");
    }

    #[test]
    fn point_ids_are_stable_and_distinct() {
        let t = TenantId::parse("t", "acme").unwrap();
        let c = ConversationId::parse("c", "c1").unwrap();
        let d = ConversationId::parse("c", "c2").unwrap();
        assert_eq!(point_id(&t, &c, 1), point_id(&t, &c, 1));
        assert_ne!(point_id(&t, &c, 1), point_id(&t, &c, 2));
        assert_ne!(point_id(&t, &c, 1), point_id(&t, &d, 1));
        let other = TenantId::parse("t", "acme2").unwrap();
        assert_ne!(point_id(&t, &c, 1), point_id(&other, &c, 1));
        assert_eq!(
            collection_name("engram", "multilingual-e5-small"),
            "engram_multilingual-e5-small"
        );
        assert_eq!(
            collection_name("e", "text/embedding 3"),
            "e_text_embedding_3"
        );
    }
}
