-- The semantic indexes (by name: embedding model and how passages are
-- built, `ports::index_name`) this tenant's stored messages were queued
-- for. A sidecar filling an index not listed queues every message for it
-- through the outbox (ColdStore::queue_reindex) and lists it.
CREATE TABLE index_builds (
    index_name text   PRIMARY KEY,
    queued_us  bigint NOT NULL
);
