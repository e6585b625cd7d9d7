-- engram's cold tier, one schema per tenant (t_<tenant>). Applied by engram
-- on the tenant's first use, with search_path set to that schema.
-- Times are microseconds since the Unix epoch, UTC (engram's Timestamp).

CREATE TABLE conversations (
    conversation_id text PRIMARY KEY,
    user_id         text   NOT NULL,
    created_us      bigint NOT NULL,
    updated_us      bigint NOT NULL,
    message_count   bigint NOT NULL,
    last_seq        bigint NOT NULL,
    total_tokens    bigint NOT NULL
);
CREATE INDEX conversations_by_user ON conversations (user_id, updated_us DESC, conversation_id);

CREATE TABLE messages (
    conversation_id text     NOT NULL REFERENCES conversations ON DELETE CASCADE,
    seq             bigint   NOT NULL,
    message_id      text     NOT NULL,
    user_id         text     NOT NULL,
    role            text     NOT NULL,
    content         text     NOT NULL,
    created_us      bigint   NOT NULL,
    metadata        jsonb    NOT NULL,
    importance      real     NOT NULL,
    tokens          integer  NOT NULL,
    -- engram's own analysis of the content (folded, stop words out,
    -- stemmed), so that lexical search ranks alike on every backend.
    terms           text     NOT NULL,
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, message_id)
);
CREATE INDEX messages_by_user ON messages (user_id, created_us);
CREATE INDEX messages_search ON messages USING gin (search);

CREATE TABLE facts (
    user_id     text   NOT NULL,
    key         text   NOT NULL,
    version     bigint NOT NULL,
    value       text   NOT NULL, -- canonical JSON text
    valid_us    bigint NOT NULL,
    invalid_us  bigint,          -- NULL while current
    source_kind text   NOT NULL,
    source_ref  text   NOT NULL,
    confidence  real   NOT NULL,
    recorded_us bigint NOT NULL,
    PRIMARY KEY (user_id, key, version)
);
-- Reading a current fact is one index probe per key.
CREATE UNIQUE INDEX facts_current ON facts (user_id, key) WHERE invalid_us IS NULL;

-- One row per user: its lock serialises fact writes, its counter is the
-- revision that fences stale cache entries.
CREATE TABLE fact_revs (
    user_id text   PRIMARY KEY,
    rev     bigint NOT NULL
);

CREATE TABLE summaries (
    summary_id      text    PRIMARY KEY,
    conversation_id text    NOT NULL REFERENCES conversations ON DELETE CASCADE,
    from_seq        bigint  NOT NULL,
    to_seq          bigint  NOT NULL,
    text            text    NOT NULL,
    tokens          integer NOT NULL,
    created_us      bigint  NOT NULL
);

CREATE TABLE handovers (
    handover_id     text   PRIMARY KEY,
    conversation_id text   NOT NULL,
    operator_id     text   NOT NULL,
    reason          text   NOT NULL,
    status          text   NOT NULL,
    started_us      bigint NOT NULL,
    ended_us        bigint,
    resolution      text,
    summary         jsonb,
    job_status      text
);
CREATE UNIQUE INDEX handovers_active ON handovers (conversation_id) WHERE status = 'active';

-- Indexing jobs written in the same transaction as the messages, claimed
-- with FOR UPDATE SKIP LOCKED.
CREATE TABLE index_outbox (
    id              bigserial PRIMARY KEY,
    conversation_id text    NOT NULL,
    seq             bigint  NOT NULL,
    op              text    NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    not_before_us   bigint  NOT NULL,
    created_us      bigint  NOT NULL
);

-- Append-only, hash-chained.
CREATE TABLE audit_log (
    seq       bigserial PRIMARY KEY,
    at_us     bigint NOT NULL,
    actor     text   NOT NULL,
    action    text   NOT NULL,
    subject   text   NOT NULL,
    reason    text   NOT NULL,
    result    text   NOT NULL,
    prev_hash bytea  NOT NULL,
    hash      bytea  NOT NULL
);
