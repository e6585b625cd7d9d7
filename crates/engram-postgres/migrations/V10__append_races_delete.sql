-- AppendMessages racing DeleteConversation: the conversation's row may be
-- deleted between append_messages' insert-if-missing and its row lock.
-- The function now takes the lock in a loop (insert, lock, again if the row
-- was gone), so the append lands on a fresh conversation instead of
-- inserting a message with a NULL sequence number. Errors: EN001, EN002 as
-- before; EN003 when a deleter won 100 times in a row.
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
    c conversations%ROWTYPE;
    m messages%ROWTYPE;
    fresh integer := 0;
BEGIN
    -- A DeleteConversation may commit between the insert-if-missing and
    -- the row lock: the lock then finds nothing, and the append starts
    -- again on a fresh conversation (each statement sees what committed
    -- before it). A deleter that keeps winning is reported, never a NULL
    -- sequence number.
    FOR attempt IN 1 .. 100 LOOP
        INSERT INTO conversations VALUES (p_conversation, p_user, p_now, p_now, 0, 0, 0) ON CONFLICT DO NOTHING;
        SELECT * INTO c FROM conversations WHERE conversation_id = p_conversation FOR UPDATE;
        EXIT WHEN FOUND;
    END LOOP;
    IF c.conversation_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EN003', MESSAGE = 'deleted while appending';
    END IF;
    IF c.user_id <> p_user THEN
        RAISE EXCEPTION USING ERRCODE = 'EN001', MESSAGE = 'another user';
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        IF p_client[i] THEN
            SELECT * INTO m FROM messages WHERE conversation_id = p_conversation AND message_id = p_ids[i];
            IF FOUND THEN
                IF m.role <> p_roles[i] OR m.content <> p_contents[i] THEN
                    RAISE EXCEPTION USING ERRCODE = 'EN002', MESSAGE = (i - 1)::text;
                END IF;
                RETURN QUERY SELECT i - 1, m.seq, true, m.created_us, m.metadata, m.importance, m.tokens,
                    NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
                CONTINUE;
            END IF;
        END IF;
        c.last_seq := c.last_seq + 1;
        c.message_count := c.message_count + 1;
        c.total_tokens := c.total_tokens + p_tokens[i];
        fresh := fresh + 1;
        INSERT INTO messages (conversation_id, seq, message_id, user_id, role, content, created_us,
                              metadata, importance, tokens, terms)
        VALUES (p_conversation, c.last_seq, p_ids[i], p_user, p_roles[i], p_contents[i], p_created[i],
                p_metadata[i], p_importance[i], p_tokens[i], p_terms[i]);
        RETURN QUERY SELECT i - 1, c.last_seq, false, p_created[i], p_metadata[i], p_importance[i], p_tokens[i],
            NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
    END LOOP;
    IF fresh > 0 THEN
        INSERT INTO index_outbox (conversation_id, seq, to_seq, op, user_id, not_before_us, created_us)
        VALUES (p_conversation, c.last_seq - fresh + 1, c.last_seq, 'index', p_user, 0, p_now);
        c.updated_us := greatest(c.updated_us, p_now);
        UPDATE conversations
           SET updated_us = c.updated_us, message_count = c.message_count,
               last_seq = c.last_seq, total_tokens = c.total_tokens
         WHERE conversation_id = p_conversation;
    END IF;
    RETURN QUERY SELECT -1, NULL::bigint, NULL::boolean, NULL::bigint, NULL::jsonb, NULL::real, NULL::integer,
        c.user_id, c.created_us, c.updated_us, c.message_count, c.last_seq, c.total_tokens;
END
$$;
