-- Group commit: the appends of many conversations in one call and one
-- transaction. The sidecar queues concurrent AppendMessages and sends what
-- is queued as one call; each append is still acknowledged only after this
-- transaction commits, and the commit's flush is paid once for all of them.
--
-- An append is refused (EN001 another user, EN002 a client id stored with
-- another role or content, EN003 deleted again and again) before any of
-- its writes, so a refused append writes nothing and the others land: its
-- rows say why (o_state), no exception aborts the batch, no subtransaction
-- is needed. The sidecar sends the appends sorted by conversation, so two
-- batches lock conversations in one order. Message arrays are flat: append
-- g owns the next p_sizes[g] of them.
CREATE OR REPLACE FUNCTION append_batch(
    p_sizes integer[], p_conversations text[], p_users text[], p_nows bigint[],
    p_ids text[], p_client boolean[], p_roles text[], p_contents text[],
    p_created bigint[], p_metadata jsonb[], p_importance real[], p_tokens integer[], p_terms text[]
) RETURNS TABLE (
    o_group integer, o_state text,
    o_idx integer, o_seq bigint, o_dedup boolean,
    o_created_us bigint, o_metadata jsonb, o_importance real, o_tokens integer,
    o_conv_user text, o_conv_created bigint, o_conv_updated bigint,
    o_conv_count bigint, o_conv_last bigint, o_conv_tokens bigint
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    c conversations%ROWTYPE;
    m messages%ROWTYPE;
    fresh integer;
    base integer := 0;
    refused text;
BEGIN
    FOR g IN 1 .. coalesce(array_length(p_sizes, 1), 0) LOOP
        c := NULL;
        -- As append_messages: a DeleteConversation committing between the
        -- insert-if-missing and the lock makes the append start again.
        FOR attempt IN 1 .. 100 LOOP
            INSERT INTO conversations VALUES (p_conversations[g], p_users[g], p_nows[g], p_nows[g], 0, 0, 0)
                ON CONFLICT DO NOTHING;
            SELECT * INTO c FROM conversations WHERE conversation_id = p_conversations[g] FOR UPDATE;
            EXIT WHEN FOUND;
        END LOOP;
        refused := NULL;
        IF c.conversation_id IS NULL THEN
            refused := 'EN003';
        ELSIF c.user_id <> p_users[g] THEN
            refused := 'EN001';
        ELSE
            FOR i IN base + 1 .. base + p_sizes[g] LOOP
                IF p_client[i] THEN
                    SELECT * INTO m FROM messages
                     WHERE conversation_id = p_conversations[g] AND message_id = p_ids[i];
                    IF FOUND AND (m.role <> p_roles[i] OR m.content <> p_contents[i]) THEN
                        refused := 'EN002:' || (i - base - 1);
                        EXIT;
                    END IF;
                END IF;
            END LOOP;
        END IF;
        IF refused IS NOT NULL THEN
            RETURN QUERY SELECT g - 1, refused, NULL::integer, NULL::bigint, NULL::boolean, NULL::bigint,
                NULL::jsonb, NULL::real, NULL::integer, NULL::text, NULL::bigint, NULL::bigint,
                NULL::bigint, NULL::bigint, NULL::bigint;
            base := base + p_sizes[g];
            CONTINUE;
        END IF;
        fresh := 0;
        FOR i IN base + 1 .. base + p_sizes[g] LOOP
            IF p_client[i] THEN
                SELECT * INTO m FROM messages
                 WHERE conversation_id = p_conversations[g] AND message_id = p_ids[i];
                IF FOUND THEN
                    RETURN QUERY SELECT g - 1, NULL::text, i - base - 1, m.seq, true, m.created_us,
                        m.metadata, m.importance, m.tokens, NULL::text, NULL::bigint, NULL::bigint,
                        NULL::bigint, NULL::bigint, NULL::bigint;
                    CONTINUE;
                END IF;
            END IF;
            c.last_seq := c.last_seq + 1;
            c.message_count := c.message_count + 1;
            c.total_tokens := c.total_tokens + p_tokens[i];
            fresh := fresh + 1;
            INSERT INTO messages (conversation_id, seq, message_id, user_id, role, content, created_us,
                                  metadata, importance, tokens, terms)
            VALUES (p_conversations[g], c.last_seq, p_ids[i], p_users[g], p_roles[i], p_contents[i],
                    p_created[i], p_metadata[i], p_importance[i], p_tokens[i], p_terms[i]);
            RETURN QUERY SELECT g - 1, NULL::text, i - base - 1, c.last_seq, false, p_created[i],
                p_metadata[i], p_importance[i], p_tokens[i], NULL::text, NULL::bigint, NULL::bigint,
                NULL::bigint, NULL::bigint, NULL::bigint;
        END LOOP;
        IF fresh > 0 THEN
            INSERT INTO index_outbox (conversation_id, seq, to_seq, op, user_id, not_before_us, created_us)
            VALUES (p_conversations[g], c.last_seq - fresh + 1, c.last_seq, 'index', p_users[g], 0, p_nows[g]);
            c.updated_us := greatest(c.updated_us, p_nows[g]);
            UPDATE conversations
               SET updated_us = c.updated_us, message_count = c.message_count,
                   last_seq = c.last_seq, total_tokens = c.total_tokens
             WHERE conversation_id = p_conversations[g];
        END IF;
        RETURN QUERY SELECT g - 1, NULL::text, -1, NULL::bigint, NULL::boolean, NULL::bigint, NULL::jsonb,
            NULL::real, NULL::integer, c.user_id, c.created_us, c.updated_us, c.message_count,
            c.last_seq, c.total_tokens;
        base := base + p_sizes[g];
    END LOOP;
END
$$;

-- append_messages, for sidecars of an older version during a rolling
-- upgrade, is now one append of append_batch: one implementation of the
-- rules, the refusals raised as before (EN002's message the index).
CREATE OR REPLACE FUNCTION append_messages(
    p_conversation text, p_user text, p_now bigint,
    p_ids text[], p_client boolean[], p_roles text[], p_contents text[],
    p_created bigint[], p_metadata jsonb[], p_importance real[], p_tokens integer[], p_terms text[]
) RETURNS TABLE (
    o_idx integer, o_seq bigint, o_dedup boolean,
    o_created_us bigint, o_metadata jsonb, o_importance real, o_tokens integer,
    o_conv_user text, o_conv_created bigint, o_conv_updated bigint,
    o_conv_count bigint, o_conv_last bigint, o_conv_tokens bigint
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM append_batch(
        ARRAY[coalesce(array_length(p_ids, 1), 0)], ARRAY[p_conversation], ARRAY[p_user], ARRAY[p_now],
        p_ids, p_client, p_roles, p_contents, p_created, p_metadata, p_importance, p_tokens, p_terms)
    LOOP
        IF r.o_state IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = split_part(r.o_state, ':', 1),
                MESSAGE = coalesce(nullif(split_part(r.o_state, ':', 2), ''), 'refused');
        END IF;
        o_idx := r.o_idx; o_seq := r.o_seq; o_dedup := r.o_dedup;
        o_created_us := r.o_created_us; o_metadata := r.o_metadata;
        o_importance := r.o_importance; o_tokens := r.o_tokens;
        o_conv_user := r.o_conv_user; o_conv_created := r.o_conv_created;
        o_conv_updated := r.o_conv_updated; o_conv_count := r.o_conv_count;
        o_conv_last := r.o_conv_last; o_conv_tokens := r.o_conv_tokens;
        RETURN NEXT;
    END LOOP;
END
$$;
