-- keel-auth 0003: TOTP second factor, recovery codes, login step-up challenges.
-- Applied by keel_auth::migrations::apply into the chosen schema (default keel_auth).

-- One TOTP factor per subject. The secret is sealed (AES-256-GCM) by the application's key
-- ring and bound to the subject; it is never stored in clear.
CREATE TABLE mfa_totp (
    subject        text        PRIMARY KEY CHECK (octet_length(subject) BETWEEN 1 AND 256),
    sealed_secret  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    -- The last accepted time step: advanced with a compare-and-set so a code works once.
    last_step      bigint,
    failures       integer     NOT NULL DEFAULT 0,
    failures_since timestamptz
);

CREATE INDEX mfa_totp_pending ON mfa_totp (created_at) WHERE confirmed_at IS NULL;

-- Single-use recovery codes: SHA-256 of 80-bit random codes. Consuming one deletes it.
CREATE TABLE mfa_recovery_codes (
    subject   text  NOT NULL REFERENCES mfa_totp (subject) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    PRIMARY KEY (subject, code_hash)
);

-- Step-up challenges: only the SHA-256 of the token; attempts counted atomically.
CREATE TABLE mfa_challenges (
    challenge_hash bytea       PRIMARY KEY CHECK (octet_length(challenge_hash) = 32),
    -- Creation order, for the per-subject cap (timestamps can tie).
    seq            bigint      GENERATED ALWAYS AS IDENTITY,
    subject        text        NOT NULL,
    purpose        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    max_attempts   integer     NOT NULL
);

CREATE INDEX mfa_challenges_subject ON mfa_challenges (subject, seq);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
