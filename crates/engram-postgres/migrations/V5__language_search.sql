-- Lexical search also through Postgres's Portuguese and English analysis
-- (snowball stemming and stop words: "consultas"/"consulta",
-- "alérgica"/"alérgico", "appointments"/"appointment"), next to engram's
-- own terms (folded, the same on every backend). A message matches when
-- either matches; the ranks add up.
ALTER TABLE messages ADD COLUMN search_lang tsvector
    GENERATED ALWAYS AS (to_tsvector('portuguese', content) || to_tsvector('english', content)) STORED;
CREATE INDEX messages_search_lang ON messages USING gin (search_lang);
