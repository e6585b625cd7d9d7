//! FactsService: validate, convert, call the engine, convert back.

use std::sync::Arc;

use engram_domain::audit::NewAuditEntry;
use engram_domain::error::Error;
use engram_domain::ids::{TenantId, UserId};
use engram_domain::limits::{MAX_FACT_BATCH, MAX_FACT_KEYS};
use engram_domain::model::PutOutcome;
use engram_domain::time::Timestamp;
use tonic::{Request, Response, Status};

use tracing::warn;

use super::convert::{self, to_fact};
use super::status::to_status;

use super::compliance::Policy;
use crate::backends::AppEngine;
use crate::pb;
use crate::pb::facts_service_server::FactsService;

#[derive(Debug, Clone)]
pub struct FactsApi {
    engine: Arc<AppEngine>,
    policy: Policy,
}

impl FactsApi {
    pub fn new(engine: Arc<AppEngine>, policy: Policy) -> Self {
        Self { engine, policy }
    }

    /// Audits a rectification (a fact corrected or ended). The write has
    /// committed: an audit failure is logged, not returned, so that the
    /// caller does not retry a write that is done.
    async fn audit_rectification(
        &self,
        tenant: &TenantId,
        user: &UserId,
        action: &str,
        result: String,
    ) {
        let entry = NewAuditEntry {
            actor: "api".into(),
            action: action.into(),
            subject: self.policy.subject(tenant, user),
            reason: String::new(),
            result,
        };
        if let Err(error) = self.engine.audit(tenant, entry).await {
            warn!(%tenant, error = %error.redacted(), "a rectification could not be audited");
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl FactsService for FactsApi {
    async fn put_facts(
        &self,
        request: Request<pb::PutFactsRequest>,
    ) -> Reply<pb::PutFactsResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        if r.facts.is_empty() {
            return Err(to_status(Error::invalid(
                "facts",
                "at least one fact is required",
            )));
        }
        if r.facts.len() > MAX_FACT_BATCH {
            return Err(to_status(Error::too_many(
                "facts",
                r.facts.len(),
                MAX_FACT_BATCH,
            )));
        }
        let now = Timestamp::now();
        let inputs = r
            .facts
            .iter()
            .enumerate()
            .map(|(i, f)| convert::fact_input(i, f, now))
            .collect::<Result<Vec<_>, _>>()
            .map_err(to_status)?;
        let results = self
            .engine
            .put_facts(&tenant, &user, inputs)
            .await
            .map_err(to_status)?;
        let corrected: Vec<&str> = results
            .iter()
            .filter(|r| matches!(r.outcome, PutOutcome::Superseded | PutOutcome::Historical))
            .map(|r| r.fact.key.as_str())
            .collect();
        if !corrected.is_empty() {
            let result = format!("ok: {}", corrected.join(","));
            self.audit_rectification(&tenant, &user, "facts.rectify", result)
                .await;
        }
        Ok(Response::new(pb::PutFactsResponse {
            results: results.into_iter().map(convert::to_put_result).collect(),
        }))
    }

    async fn get_facts(
        &self,
        request: Request<pb::GetFactsRequest>,
    ) -> Reply<pb::GetFactsResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        if r.keys.len() > MAX_FACT_KEYS {
            return Err(to_status(Error::too_many(
                "keys",
                r.keys.len(),
                MAX_FACT_KEYS,
            )));
        }
        let keys = r
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| convert::fact_key(&format!("keys[{i}]"), k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(to_status)?;
        let as_of = convert::timestamp("as_of", r.as_of.as_ref()).map_err(to_status)?;
        let facts = self
            .engine
            .facts(&tenant, &user, &keys, as_of)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetFactsResponse {
            facts: facts.into_iter().map(to_fact).collect(),
        }))
    }

    async fn get_fact_history(
        &self,
        request: Request<pb::GetFactHistoryRequest>,
    ) -> Reply<pb::GetFactHistoryResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        let key = convert::fact_key("key", &r.key).map_err(to_status)?;
        let versions = self
            .engine
            .fact_history(&tenant, &user, &key)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetFactHistoryResponse {
            versions: versions.into_iter().map(to_fact).collect(),
        }))
    }

    async fn invalidate_fact(
        &self,
        request: Request<pb::InvalidateFactRequest>,
    ) -> Reply<pb::InvalidateFactResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let user = convert::user(&r.user_id).map_err(to_status)?;
        let key = convert::fact_key("key", &r.key).map_err(to_status)?;
        let at = convert::timestamp("invalid_at", r.invalid_at.as_ref())
            .map_err(to_status)?
            .unwrap_or_else(Timestamp::now);
        let fact = self
            .engine
            .invalidate_fact(&tenant, &user, &key, at)
            .await
            .map_err(to_status)?;
        self.audit_rectification(&tenant, &user, "facts.invalidate", format!("ok: {key}"))
            .await;
        Ok(Response::new(pb::InvalidateFactResponse {
            fact: Some(to_fact(fact)),
        }))
    }

    async fn extract_facts(
        &self,
        request: Request<pb::ExtractFactsRequest>,
    ) -> Reply<pb::ExtractFactsResponse> {
        let r = request.into_inner();
        let tenant = convert::tenant(&r.tenant_id).map_err(to_status)?;
        let conversation = convert::conversation(&r.conversation_id).map_err(to_status)?;
        let extracted = self
            .engine
            .extract_facts(&tenant, &conversation, r.dry_run)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ExtractFactsResponse {
            proposals: extracted
                .proposals
                .into_iter()
                .map(|p| pb::ProposedFact {
                    message_id: p.message_id.to_string(),
                    fact: Some(convert::to_fact_input(p.fact)),
                })
                .collect(),
            results: extracted
                .results
                .into_iter()
                .map(convert::to_put_result)
                .collect(),
            extractor: extracted.extractor,
            model_fell_back: extracted.model_fell_back,
            model_refused: u32::try_from(extracted.refused).unwrap_or(u32::MAX),
        }))
    }
}
