-- Handovers. The V1 table gains what HandoverService needs: the user, the
-- conversation's last sequence number when the human took over (the
-- operator's events come after it), the closing notes, and the columns of
-- the summary job. An ended handover whose job_status is 'queued' is its
-- summary job: claimed with FOR UPDATE SKIP LOCKED under a lease, retried
-- from not_before_us, finished by a conditional update so that it gets one
-- summary. The partial unique index of V1 keeps one active handover per
-- conversation, whatever the number of sidecars. Handovers go with their
-- conversation.
ALTER TABLE handovers
    ADD COLUMN user_id         text    NOT NULL DEFAULT '',
    ADD COLUMN start_seq       bigint  NOT NULL DEFAULT 0,
    ADD COLUMN notes           text    NOT NULL DEFAULT '',
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN not_before_us   bigint  NOT NULL DEFAULT 0,
    ADD COLUMN leased_until_us bigint  NOT NULL DEFAULT 0,
    ADD CONSTRAINT handovers_conversation
        FOREIGN KEY (conversation_id) REFERENCES conversations ON DELETE CASCADE;
CREATE INDEX handovers_by_conversation ON handovers (conversation_id, started_us DESC);
CREATE INDEX handovers_jobs ON handovers (not_before_us) WHERE job_status = 'queued';
