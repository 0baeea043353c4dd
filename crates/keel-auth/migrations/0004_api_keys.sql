-- keel-auth 0004: API keys for service-to-service calls.
-- Applied by keel_auth::migrations::apply into the chosen schema (default keel_auth).

-- Only the SHA-256 of each key is stored. `id` is the key's public lookup id: its prefix and
-- the first 8 characters of its random part.
CREATE TABLE api_keys (
    id           text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 32),
    subject      text        NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 256),
    name         text        NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 128),
    scopes       text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(scopes) <= 32),
    key_hash     bytea       NOT NULL CHECK (octet_length(key_hash) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX api_keys_subject ON api_keys (subject, created_at);
