-- Users of the reference service.
-- E-mail uniqueness is case-insensitive through an index on lower(email) rather than the
-- citext extension: extensions are per database, and tests run each in its own schema.
-- IF NOT EXISTS: a database migrated by refinery (before keel-db-pool's Migrator) has it
-- already, and recording it again must be a no-op.
CREATE TABLE IF NOT EXISTS users (
    id              uuid        PRIMARY KEY,
    email           text        NOT NULL CHECK (length(email) <= 254),
    first_name      text        NOT NULL,
    last_name       text        NOT NULL,
    -- keel-crypto AEAD token (purpose-bound); never plaintext.
    phone_encrypted bytea,
    role            text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash   text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));
-- Stable pagination order for the admin list.
CREATE INDEX IF NOT EXISTS users_created_at_id_idx ON users (created_at, id);
