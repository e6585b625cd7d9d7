//! The contract test suite every engram backend must pass: one set of
//! behaviours, run against the embedded backends and the production ones
//! alike (in the manner of Quickwit's `metastore_test_suite!`).
//!
//! A backend crate instantiates the suites in its tests:
//!
//! ```text
//! engram_contract::cold_store_suite!(make_cold);   // async fn() -> (impl ColdStore, Guard)
//! engram_contract::hot_tier_suite!(make_hot);      // async fn(window: usize) -> (impl HotTier, Guard)
//! engram_contract::semantic_index_suite!(make_index); // async fn(dim: usize) -> (impl SemanticIndex, Guard)
//! ```
//!
//! Each case runs on a fresh tenant id, so suites may share one server.
//! Depends only on the core.

pub mod cold;
pub mod compliance;
pub mod fixtures;
pub mod handovers;
pub mod hot;
pub mod index;
pub mod outbox;
pub mod summaries;

/// Instantiates the cold-store contract: `$make` is an async fn returning
/// `(store, guard)`; the guard lives until the case ends.
#[macro_export]
macro_rules! cold_store_suite {
    ($make:path) => {
        $crate::cold_store_suite!(@cases $make,
            cold::append_assigns_gap_free_sequence_numbers,
            cold::a_retry_with_the_same_id_is_deduplicated,
            cold::the_same_id_with_other_content_is_refused_and_nothing_is_written,
            cold::another_user_cannot_append_to_a_conversation,
            cold::concurrent_appends_stay_gap_free_and_a_refusal_is_only_its_own,
            cold::tenants_are_isolated,
            cold::conversations_are_listed_most_recent_first,
            cold::a_users_history_sums_their_conversations,
            cold::delete_removes_the_conversation,
            cold::lexical_search_is_scoped_and_filtered,
            cold::lexical_search_meets_other_forms_of_a_word,
            cold::messages_at_keeps_the_order_and_skips_missing,
            cold::a_new_fact_invalidates_the_old_one,
            cold::facts_as_of_and_history,
            cold::a_backdated_fact_goes_into_history,
            cold::invalidate_fact,
            cold::facts_of_one_batch_apply_in_order,
            outbox::an_append_writes_one_job_for_its_new_messages,
            outbox::a_claimed_job_is_leased_until_it_expires,
            outbox::jobs_of_a_conversation_are_claimed_in_order,
            outbox::a_deferred_job_waits_and_holds_back_its_conversation,
            outbox::a_deletion_writes_a_job_that_removes_the_points,
            outbox::outbox_jobs_are_isolated_by_tenant,
            outbox::a_new_index_gets_every_stored_message_once,
            outbox::an_index_catches_up_when_the_jobs_queued_for_it_are_done,
            outbox::memory_stats_count_by_band_and_user,
            summaries::a_running_summary_only_moves_forward,
            summaries::summaries_of_a_user_come_most_recent_first,
            summaries::a_deleted_conversation_loses_its_summary,
            handovers::one_active_handover_per_conversation,
            handovers::ending_queues_one_summary_job,
            handovers::a_handover_gets_one_summary_when_a_lease_expires,
            handovers::a_deferred_handover_job_waits,
            handovers::a_deleted_conversation_loses_its_handovers,
            compliance::erasing_a_user_leaves_nothing_of_them,
            compliance::the_audit_log_is_one_chain_across_writers,
            compliance::retention_finds_expired_conversations_and_anonymizes_once,
            compliance::retention_policies_and_legal_holds_are_per_tenant,
            compliance::data_keys_are_created_once_rewrapped_conditionally_and_shredded,
            compliance::subject_keys_are_shared_rotated_without_downtime_and_shredded,
        );
    };
    (@cases $make:path, $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make().await;
                $crate::$module::$case(&store).await;
            }
        )+
    };
}

/// Instantiates the hot-tier contract: `$make(window)` is an async fn
/// returning `(tier, guard)` keeping `window` messages per conversation.
#[macro_export]
macro_rules! hot_tier_suite {
    ($make:path) => {
        $crate::hot_tier_suite!(@cases $make,
            a_window_is_cached_and_read_back,
            extend_appends_contiguous_messages_and_trims,
            extend_after_a_gap_fences_the_conversation,
            a_stale_window_never_replaces_a_newer_one,
            a_fence_refuses_older_windows,
            fact_snapshots_are_fenced_by_revision,
            hot_entries_are_isolated_by_tenant,
        );
    };
    (@cases $make:path, $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (tier, _guard) = $make($crate::hot::WINDOW).await;
                $crate::hot::$case(&tier).await;
            }
        )+
    };
}

/// Instantiates the semantic-index contract: `$make(dimension)` is an async
/// fn returning `(index, guard)`.
#[macro_export]
macro_rules! semantic_index_suite {
    ($make:path) => {
        $crate::semantic_index_suite!(@cases $make,
            nearest_points_come_first,
            search_is_scoped_to_user_and_conversation,
            search_is_isolated_by_tenant,
            search_applies_role_and_time_filters,
            upsert_replaces_and_delete_removes,
            delete_user_removes_every_point_of_the_user_only,
        );
    };
    (@cases $make:path, $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (index, _guard) = $make($crate::index::DIMENSION).await;
                $crate::index::$case(&index).await;
            }
        )+
    };
    // For a backend whose server may be absent: `$make` returns an Option,
    // and a case without a server says it was skipped.
    (optional $make:path) => {
        $crate::semantic_index_suite!(@optional $make,
            nearest_points_come_first,
            search_is_scoped_to_user_and_conversation,
            search_is_isolated_by_tenant,
            search_applies_role_and_time_filters,
            upsert_replaces_and_delete_removes,
            delete_user_removes_every_point_of_the_user_only,
        );
    };
    (@optional $make:path, $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((index, _guard)) = $make($crate::index::DIMENSION).await else {
                    eprintln!("SKIPPED {}: no server configured", stringify!($case));
                    return;
                };
                $crate::index::$case(&index).await;
            }
        )+
    };
}
