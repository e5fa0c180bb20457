-- Foundation: the CA, departments, enrollment tokens, devices, and reports
-- with the facts ingest derives from them.

-- Small facts of the installation: the policy's pseudonym key, markers.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The collector CA, shared by every replica on the same store.
CREATE TABLE certificate_authority (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    certificate_pem TEXT    NOT NULL,
    key_pem         TEXT    NOT NULL,
    created_unix_ms INTEGER NOT NULL
);

CREATE TABLE departments (
    name            TEXT PRIMARY KEY,
    created_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Tokens are kept as SHA-256 digests: a token is 256 random bits, so a fast
-- hash is enough and the database never holds a usable token.
CREATE TABLE enrollment_tokens (
    token_sha256    BLOB    PRIMARY KEY,
    department      TEXT    NOT NULL REFERENCES departments (name),
    created_unix_ms INTEGER NOT NULL,
    expires_unix_ms INTEGER NOT NULL,
    max_uses        INTEGER,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_unix_ms INTEGER
) WITHOUT ROWID;

CREATE TABLE devices (
    id                            TEXT    PRIMARY KEY,
    hostname                      TEXT    NOT NULL,
    department                    TEXT    NOT NULL REFERENCES departments (name),
    agent_version                 TEXT    NOT NULL,
    enrolled_unix_ms              INTEGER NOT NULL,
    last_seen_unix_ms             INTEGER,
    revoked_unix_ms               INTEGER,
    certificate_serial            TEXT    NOT NULL,
    certificate_not_after_unix_ms INTEGER NOT NULL,
    bearer_secret_sha256          BLOB    NOT NULL,
    reports                       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX devices_department ON devices (department);

-- Every accepted report, once (idempotent on report_id), as received.
CREATE TABLE reports (
    report_id         TEXT    PRIMARY KEY,
    device_id         TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms INTEGER NOT NULL,
    received_unix_ms  INTEGER NOT NULL,
    payload           BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX reports_device_collected ON reports (device_id, collected_unix_ms);

-- Inventory history: one row per inventory received.
CREATE TABLE inventories (
    device_id         TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms INTEGER NOT NULL,
    hostname          TEXT    NOT NULL,
    vendor            TEXT,
    model             TEXT,
    serial_number     TEXT,
    chassis           TEXT    NOT NULL,
    cpu_model         TEXT,
    cpu_logical_cores INTEGER,
    memory_bytes      INTEGER,
    disk_bytes        INTEGER,
    os_name           TEXT,
    os_version        TEXT,
    bios_date         TEXT,
    age_since_date    TEXT,
    age_source        TEXT,
    battery_health_percent REAL,
    PRIMARY KEY (device_id, collected_unix_ms)
) WITHOUT ROWID;

-- Hourly use buckets; a later copy of an hour (a fuller one) replaces it.
CREATE TABLE usage_hours (
    device_id          TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    hour_start_unix_ms INTEGER NOT NULL,
    powered_minutes    INTEGER NOT NULL,
    active_minutes     INTEGER,
    cpu_p95_percent    REAL,
    memory_p95_percent REAL,
    disk_fill_percent  REAL,
    PRIMARY KEY (device_id, hour_start_unix_ms)
) WITHOUT ROWID;
