-- Suggestions and their review, dashboard accounts, and IT's recorded needs.
-- Keep in step with ../sqlite/0002_review_and_accounts.sql.

-- A suggestion's id is stable: derived from its kind and the devices and
-- departments it concerns, so recomputation finds the same row again.
CREATE TABLE suggestions (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('pool', 'reuse', 'extend', 'repair', 'upgrade', 'storage')),
    status             TEXT    NOT NULL CHECK (status IN ('open', 'accepted', 'done', 'dismissed')),
    -- JSON arrays of department names and device ids.
    departments        TEXT    NOT NULL,
    devices            TEXT    NOT NULL,
    rationale          TEXT    NOT NULL,
    avoided_kgco2e     DOUBLE PRECISION    NOT NULL,
    avoided_kgco2e_low DOUBLE PRECISION    NOT NULL,
    avoided_kgco2e_high DOUBLE PRECISION   NOT NULL,
    avoided_source     TEXT    NOT NULL,
    avoided_cost_eur   DOUBLE PRECISION,
    -- Digest of the facts behind it: a dismissed suggestion comes back only
    -- when they change materially.
    facts_sha256       TEXT    NOT NULL,
    created_unix_ms    BIGINT NOT NULL,
    updated_unix_ms    BIGINT NOT NULL
);
CREATE INDEX suggestions_status_kind ON suggestions (status, kind);

-- Every change of a suggestion's status: who, when, why.
CREATE TABLE suggestion_decisions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    suggestion_id   TEXT    NOT NULL REFERENCES suggestions (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL,
    reason          TEXT    NOT NULL DEFAULT '',
    actor           TEXT    NOT NULL,
    at_unix_ms      BIGINT NOT NULL
);
CREATE INDEX suggestion_decisions_suggestion ON suggestion_decisions (suggestion_id, at_unix_ms);

-- Needs IT records ("Finance needs 2 laptops with 16 GB").
CREATE TABLE device_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department       TEXT    NOT NULL,
    category         TEXT    NOT NULL,
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    min_memory_bytes BIGINT,
    min_logical_cores BIGINT,
    min_storage_bytes BIGINT,
    note             TEXT    NOT NULL DEFAULT '',
    created_by       TEXT    NOT NULL,
    created_unix_ms  BIGINT NOT NULL,
    closed_unix_ms   BIGINT
);

-- Local dashboard accounts (argon2id hashes) and their roles.
CREATE TABLE users (
    name             TEXT    PRIMARY KEY,
    password_argon2  TEXT,
    created_unix_ms  BIGINT NOT NULL,
    disabled_unix_ms BIGINT
);

CREATE TABLE user_roles (
    name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'it', 'hr')),
    PRIMARY KEY (name, role)
);

-- API bearer tokens, kept as SHA-256 digests.
CREATE TABLE api_tokens (
    token_sha256    BYTEA    PRIMARY KEY,
    name            TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_unix_ms BIGINT NOT NULL,
    revoked_unix_ms BIGINT
);

-- Browser sessions, kept as SHA-256 digests of the cookie value.
CREATE TABLE sessions (
    id_sha256       BYTEA    PRIMARY KEY,
    name            TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token      TEXT    NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    expires_unix_ms BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_unix_ms);
