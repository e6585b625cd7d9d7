-- Running summaries: one per conversation, replaced as the conversation
-- grows. The body is engram's Summary (items with their source message
-- ids), so that the next refresh is incremental.
ALTER TABLE summaries ADD COLUMN body jsonb NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX summaries_by_conversation ON summaries (conversation_id);
