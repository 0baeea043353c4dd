-- keel-auth 0001: refresh-token families (sessions) and their tokens.
-- Applied by keel_auth::migrations::apply into a schema of your choice (default keel_auth);
-- unqualified names resolve to that schema. Times are written by the application's clock.

CREATE TABLE refresh_families (
    sid            text        PRIMARY KEY CHECK (length(sid) BETWEEN 1 AND 64),
    subject        text        NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 256),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);

-- Live sessions of a subject (per-subject cap, logout everywhere, "your devices").
CREATE INDEX refresh_families_subject_live ON refresh_families (subject, created_at)
    WHERE revoked_at IS NULL;
-- Purge of ended sessions.
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- Only SHA-256 hashes of tokens are stored. Rotated tokens are kept until their family is
-- purged: presenting one again is reuse and revokes the family.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    sid        text        NOT NULL REFERENCES refresh_families (sid) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);

CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
