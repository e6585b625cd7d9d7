-- The version of engram's text analyser (`text::ANALYSER_VERSION`) the
-- `terms` column was computed with. Rows written before this table existed
-- were analysed by version 1; on start, a sidecar whose analyser is newer
-- analyses every message again (schema::reanalyse) and records its version.
CREATE TABLE analyser (
    version integer NOT NULL
);
INSERT INTO analyser (version) VALUES (1);
