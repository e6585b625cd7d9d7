-- Encryption at rest: an encrypted message's content is `enc1:` + base64
-- followed by the keyed hashes of its terms (what `terms` indexes). The
-- language analysis of V5 would only index base64 noise: it reads an empty
-- vector for encrypted rows (their stemmed search is lost; exact folded
-- terms still match through `search`).
DROP INDEX messages_search_lang;
ALTER TABLE messages DROP COLUMN search_lang;
ALTER TABLE messages ADD COLUMN search_lang tsvector
    GENERATED ALWAYS AS (
        CASE WHEN content LIKE 'enc1:%' THEN ''::tsvector
             ELSE to_tsvector('portuguese', content) || to_tsvector('english', content)
        END) STORED;
CREATE INDEX messages_search_lang ON messages USING gin (search_lang);
