-- Encryption at rest: the data keys of the tenant's subjects (a user id,
-- or '' for the tenant's own key), each wrapped by a master key that is
-- never stored. Erasing a user deletes their row: what a backup holds of
-- their encrypted data can no longer be decrypted.
CREATE TABLE data_keys (
    subject    text   PRIMARY KEY,
    master_id  text   NOT NULL,
    wrapped    bytea  NOT NULL,
    created_us bigint NOT NULL
);
