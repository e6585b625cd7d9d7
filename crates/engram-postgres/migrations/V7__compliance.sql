-- Compliance (ComplianceService).
--
-- The audit chain's head: one row, locked by every append, so that the
-- entries of any number of sidecars form one chain (seq gap-free, each hash
-- over the previous one). audit_log rows are append-only: a trigger refuses
-- UPDATE and DELETE, and the hash chain finds a change made around it.
CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint  NOT NULL,
    hash bytea   NOT NULL
);
INSERT INTO audit_head VALUES (true, 0, decode(repeat('00', 32), 'hex'));

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE INDEX audit_log_by_subject ON audit_log (subject, seq);

-- Retention policies (the longest applies) and legal holds.
CREATE TABLE retention_policies (
    policy_id      text    PRIMARY KEY,
    vertical       text    NOT NULL,
    retention_days integer NOT NULL,
    action         text    NOT NULL,
    updated_us     bigint  NOT NULL
);
CREATE TABLE legal_holds (
    user_id  text   PRIMARY KEY,
    since_us bigint NOT NULL
);

-- Conversations retention has anonymized, up to which message: one that
-- grew since is swept again.
CREATE TABLE anonymized_conversations (
    conversation_id text   PRIMARY KEY REFERENCES conversations ON DELETE CASCADE,
    last_seq        bigint NOT NULL,
    at_us           bigint NOT NULL
);
CREATE INDEX conversations_by_update ON conversations (updated_us, conversation_id);
-- Erasure finds a user's pending jobs and their points by user.
CREATE INDEX index_outbox_by_user ON index_outbox (user_id);
