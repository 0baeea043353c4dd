-- keel-auth 0002: per-subject access-token versions and single-session revocations.
-- Applied by keel_auth::migrations::apply into a schema of your choice (default keel_auth);
-- unqualified names resolve to that schema. Times are written by the application's clock.

-- A subject's current token version: access tokens carrying a lower `ver` are revoked.
-- A row exists only for subjects whose version was bumped at least once (absent = 0).
CREATE TABLE token_versions (
    subject    text        PRIMARY KEY CHECK (octet_length(subject) BETWEEN 1 AND 256),
    version    bigint      NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL
);

-- Sessions whose access tokens are revoked one by one, until the last of those tokens has
-- expired (`expires_at`); rows past it are dead and deleted by PgTokenVersions::purge.
CREATE TABLE revoked_sessions (
    subject    text        NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 256),
    sid        text        NOT NULL CHECK (octet_length(sid) BETWEEN 1 AND 256),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (subject, sid)
);

CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);
