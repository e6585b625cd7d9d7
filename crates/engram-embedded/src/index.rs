//! The embedded semantic index: vectors in a redb file, searched by an
//! exact scan of the scope.
//!
//! Every search is scoped to a tenant and a user (or one of the user's
//! conversations), and keys are laid out (tenant, user, conversation, seq),
//! so a search reads only the scope's vectors: an exact scan of a few
//! thousand 256-dimension vectors takes well under a millisecond, and an ANN
//! structure would not pay for itself at that size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::{MessageFilter, Role, Scope};
use engram_domain::ports::{IndexHit, IndexPoint, SemanticIndex, model_slug};
use engram_domain::time::Timestamp;
use engram_domain::{Error, Result};
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::writer::{Writer, storage};

/// (tenant, user, conversation, seq) → [role: u8][created_at: i64 LE][f32 LE…]
const POINTS: TableDefinition<(&str, &str, &str, u64), &[u8]> = TableDefinition::new("points");
const HEADER: usize = 9;

/// The embedded vector index of one embedding model.
#[derive(Debug, Clone)]
pub struct EmbeddedIndex {
    db: Arc<Database>,
    writer: Writer,
    dimension: usize,
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::User => 1,
        Role::Assistant => 2,
        Role::System => 3,
        Role::Operator => 4,
        Role::Tool => 5,
    }
}

fn byte_role(b: u8) -> Option<Role> {
    Role::ALL.into_iter().find(|r| role_byte(*r) == b)
}

impl EmbeddedIndex {
    /// Opens (or creates) the index named `index` (`ports::index_name`: the
    /// model, and how passages are built) under `dir`, with a page cache of
    /// `cache_bytes`.
    pub fn open(dir: &Path, index: &str, dimension: usize, cache_bytes: usize) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::unavailable("embedded index", format!("{}: {e}", dir.display())))?;
        let name = model_slug(index);
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(dir.join(format!("index-{name}.redb")))
            .map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(POINTS).map_err(storage)?;
        txn.commit().map_err(storage)?;
        let db = Arc::new(db);
        let writer = Writer::start(db.clone(), "index")
            .map_err(|e| Error::unavailable("embedded index", e))?;
        Ok(Self {
            db,
            writer,
            dimension,
        })
    }

    fn encode(&self, point: &IndexPoint) -> Result<Vec<u8>> {
        if point.vector.len() != self.dimension {
            return Err(Error::Internal(format!(
                "vector of {} dimensions for an index of {}",
                point.vector.len(),
                self.dimension
            )));
        }
        let mut out = Vec::with_capacity(HEADER + 4 * self.dimension);
        out.push(role_byte(point.role));
        out.extend_from_slice(&point.created_at.0.to_le_bytes());
        for x in &point.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        Ok(out)
    }
}

/// Cosine of a unit query with a stored unit vector (little-endian f32s,
/// unaligned), in eight lanes so that the compiler vectorizes it.
fn dot(query: &[f32], stored: &[u8]) -> f32 {
    let mut lanes = [0f32; 8];
    let blocks = stored.chunks_exact(32).zip(query.chunks_exact(8));
    for (bytes, q) in blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let b = &bytes[4 * i..4 * i + 4];
            *lane += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * q[i];
        }
    }
    let done = query.len() / 8 * 8;
    let tail: f32 = stored[4 * done..]
        .chunks_exact(4)
        .zip(&query[done..])
        .map(|(b, q)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * q)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// A candidate hit; orders worse-first so that a min-heap of `Reverse`
/// keeps the best.
#[derive(Debug, PartialEq)]
struct Scored {
    score: f32,
    conversation: String,
    seq: u64,
}

impl Scored {
    /// Ranks below a point with this score and position (ties: the lower
    /// sequence number ranks higher, as in the final sort).
    fn below(&self, score: f32, conversation: &str, seq: u64) -> bool {
        self.score
            .total_cmp(&score)
            .then_with(|| (seq, conversation).cmp(&(self.seq, self.conversation.as_str())))
            .is_lt()
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Greater = better: higher score, then lower position.
        self.score
            .total_cmp(&other.score)
            .then_with(|| (other.seq, &other.conversation).cmp(&(self.seq, &self.conversation)))
    }
}

impl SemanticIndex for EmbeddedIndex {
    #[tracing::instrument(
        name = "index.upsert",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn upsert(&self, tenant: &TenantId, points: Vec<IndexPoint>) -> Result<()> {
        let encoded: Vec<(IndexPoint, Vec<u8>)> = points
            .into_iter()
            .map(|p| self.encode(&p).map(|bytes| (p, bytes)))
            .collect::<Result<_>>()?;
        let tenant = tenant.clone();
        self.writer
            .write(move |txn| {
                let mut table = txn.open_table(POINTS).map_err(storage)?;
                for (p, bytes) in &encoded {
                    let key = (
                        tenant.as_str(),
                        p.user_id.as_str(),
                        p.conversation_id.as_str(),
                        p.seq,
                    );
                    table.insert(key, bytes.as_slice()).map_err(storage)?;
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(
        name = "index.search",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
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
        if vector.len() != self.dimension {
            return Err(Error::invalid(
                "query_vector",
                format!(
                    "has {} dimensions; the index has {}",
                    vector.len(),
                    self.dimension
                ),
            ));
        }
        let (db, tenant, scope, filter, query) = (
            self.db.clone(),
            tenant.clone(),
            scope.clone(),
            filter.clone(),
            vector.to_vec(),
        );
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(POINTS).map_err(storage)?;
            let t = tenant.as_str();
            let u = scope.user().as_str();
            let end_user = format!("{u}\0");
            let range = match &scope {
                Scope::Conversation(_, c) => {
                    let c = c.as_str();
                    table.range((t, u, c, 0)..=(t, u, c, u64::MAX))
                }
                Scope::User(_) => table.range((t, u, "", 0)..(t, end_user.as_str(), "", 0)),
            }
            .map_err(storage)?;
            // The best `limit` so far, worst on top: most points are
            // scored and dropped without an allocation.
            let mut best: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(limit + 1);
            for entry in range {
                let (key, value) = entry.map_err(storage)?;
                let bytes = value.value();
                if bytes.len() < HEADER {
                    return Err(Error::Internal("corrupt index point".into()));
                }
                let Some(role) = byte_role(bytes[0]) else {
                    return Err(Error::Internal("corrupt index point".into()));
                };
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&bytes[1..HEADER]);
                if !filter.matches(role, Timestamp(i64::from_le_bytes(ts))) {
                    continue;
                }
                let score = dot(&query, &bytes[HEADER..]);
                let (_, _, c, seq) = key.value();
                if best.len() == limit
                    && best
                        .peek()
                        .is_some_and(|Reverse(worst)| !worst.below(score, c, seq))
                {
                    continue;
                }
                best.push(Reverse(Scored {
                    score,
                    conversation: c.to_owned(),
                    seq,
                }));
                if best.len() > limit {
                    best.pop();
                }
            }
            let mut hits = best
                .into_iter()
                .map(|Reverse(s)| {
                    Ok(IndexHit {
                        conversation_id: ConversationId::parse("conversation_id", &s.conversation)?,
                        seq: s.seq,
                        score: s.score,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.seq.cmp(&b.seq)));
            Ok(hits)
        })
        .await
        .map_err(|e| Error::Internal(format!("search task failed: {e}")))?
    }

    #[tracing::instrument(
        name = "index.delete_conversation",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<u64> {
        let (tenant, user, conversation) = (tenant.clone(), user.clone(), conversation.clone());
        self.writer
            .write(move |txn| {
                let mut table = txn.open_table(POINTS).map_err(storage)?;
                let (t, u, c) = (tenant.as_str(), user.as_str(), conversation.as_str());
                let mut removed = 0;
                table
                    .retain_in((t, u, c, 0)..=(t, u, c, u64::MAX), |_, _| {
                        removed += 1;
                        false
                    })
                    .map_err(storage)?;
                Ok(removed)
            })
            .await
    }

    #[tracing::instrument(
        name = "index.delete_user",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn delete_user(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.writer
            .write(move |txn| {
                let mut table = txn.open_table(POINTS).map_err(storage)?;
                let (t, u) = (tenant.as_str(), user.as_str());
                let end = format!("{u}\0");
                let mut removed = 0;
                table
                    .retain_in((t, u, "", 0)..(t, end.as_str(), "", 0), |_, _| {
                        removed += 1;
                        false
                    })
                    .map_err(storage)?;
                Ok(removed)
            })
            .await
    }

    #[tracing::instrument(
        name = "index.count_user",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn count_user(&self, tenant: &TenantId, user: &UserId) -> Result<u64> {
        let (db, tenant, user) = (self.db.clone(), tenant.clone(), user.clone());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(POINTS).map_err(storage)?;
            let (t, u) = (tenant.as_str(), user.as_str());
            let end = format!("{u}\0");
            let mut count = 0;
            for entry in table
                .range((t, u, "", 0)..(t, end.as_str(), "", 0))
                .map_err(storage)?
            {
                entry.map_err(storage)?;
                count += 1;
            }
            Ok(count)
        })
        .await
        .map_err(|e| Error::Internal(format!("count task failed: {e}")))?
    }

    #[tracing::instrument(
        name = "index.ping",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
