-- Sobrio collector schema (SQLite). Times are Unix milliseconds (UTC).
-- Keep in step with ../postgres/0001_schema.sql: same tables, same columns.

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
    reports                       INTEGER NOT NULL DEFAULT 0,
    -- collected_unix_ms of the device's latest inventory row.
    inventory_unix_ms             INTEGER
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
CREATE INDEX reports_received ON reports (received_unix_ms);

-- Inventory history: one row per inventory received.
CREATE TABLE inventories (
    device_id              TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms      INTEGER NOT NULL,
    hostname               TEXT    NOT NULL,
    vendor                 TEXT,
    model                  TEXT,
    serial_number          TEXT,
    chassis                TEXT    NOT NULL,
    cpu_model              TEXT,
    cpu_logical_cores      INTEGER,
    memory_bytes           INTEGER,
    disk_bytes             INTEGER,
    os_name                TEXT,
    os_version             TEXT,
    bios_date              TEXT,
    age_since_date         TEXT,
    age_source             TEXT,
    battery_health_percent REAL,
    battery_cycles         INTEGER,
    PRIMARY KEY (device_id, collected_unix_ms)
) WITHOUT ROWID;
CREATE INDEX inventories_serial ON inventories (serial_number);

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
CREATE INDEX usage_hours_start ON usage_hours (hour_start_unix_ms);

-- Rollup: per device and ISO week (Monday 00:00 UTC), maintained at ingest.
-- An hour is active with at least 15 active minutes; hot when its p95 is at
-- least 90%.
CREATE TABLE device_weeks (
    device_id             TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    week_start_unix_ms    INTEGER NOT NULL,
    powered_hours         INTEGER NOT NULL,
    active_hours          INTEGER NOT NULL,
    cpu_hot_hours         INTEGER NOT NULL,
    memory_hot_hours      INTEGER NOT NULL,
    disk_fill_max_percent REAL,
    PRIMARY KEY (device_id, week_start_unix_ms)
) WITHOUT ROWID;
CREATE INDEX device_weeks_week ON device_weeks (week_start_unix_ms);

-- Rollup: per department and hour, how many of its devices were active.
CREATE TABLE department_hours (
    department         TEXT    NOT NULL,
    hour_start_unix_ms INTEGER NOT NULL,
    active_devices     INTEGER NOT NULL,
    PRIMARY KEY (department, hour_start_unix_ms)
) WITHOUT ROWID;

-- Storage snapshots: volumes and reclaimable totals by category.
CREATE TABLE storage_snapshots (
    device_id               TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms       INTEGER NOT NULL,
    total_bytes             INTEGER NOT NULL,
    used_bytes              INTEGER NOT NULL,
    scanned_unix_ms         INTEGER,
    duplicate_groups        INTEGER,
    duplicate_files         INTEGER,
    duplicate_bytes         INTEGER,
    temp_bytes              INTEGER,
    cache_bytes             INTEGER,
    trash_bytes             INTEGER,
    stale_bytes             INTEGER,
    mail_archives_bytes     INTEGER,
    old_downloads_bytes     INTEGER,
    PRIMARY KEY (device_id, collected_unix_ms)
) WITHOUT ROWID;

-- Person-day digital load as each device saw it; merged across a person's
-- devices only when indicators are computed. Never served as such.
CREATE TABLE person_days (
    person_id                   TEXT    NOT NULL,
    day                         TEXT    NOT NULL,
    device_id                   TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms           INTEGER NOT NULL,
    meeting_minutes             INTEGER,
    meeting_count               INTEGER,
    conflicting_minutes         INTEGER,
    back_to_back_count          INTEGER,
    after_hours_meeting_minutes INTEGER,
    call_minutes                INTEGER,
    notifications_total         INTEGER,
    notifications_after_hours   INTEGER,
    notifications_chat          INTEGER,
    notifications_mail          INTEGER,
    notifications_calendar      INTEGER,
    notifications_other         INTEGER,
    focus_minutes               INTEGER,
    active_minutes              INTEGER,
    after_hours_active_minutes  INTEGER,
    weekend_active_minutes      INTEGER,
    PRIMARY KEY (person_id, day, device_id)
) WITHOUT ROWID;
CREATE INDEX person_days_day ON person_days (day);
CREATE INDEX person_days_device ON person_days (device_id);

-- Weeks whose indicators were computed: person-day rows of a week are
-- deleted a retention period after it.
CREATE TABLE aggregated_weeks (
    week_start_day     TEXT    PRIMARY KEY,
    week_end_day       TEXT    NOT NULL,
    aggregated_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- The organisation's asset register, keyed by serial number.
CREATE TABLE assets (
    serial            TEXT PRIMARY KEY,
    hostname          TEXT,
    category          TEXT,
    purchase_date     TEXT,
    price_eur         REAL,
    department        TEXT,
    warranty_end      TEXT,
    imported_unix_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX assets_hostname ON assets (hostname);

-- Leases so that periodic jobs run on one replica only.
CREATE TABLE leases (
    name            TEXT    PRIMARY KEY,
    holder          TEXT    NOT NULL,
    expires_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE job_runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    job               TEXT    NOT NULL,
    holder            TEXT    NOT NULL,
    started_unix_ms   INTEGER NOT NULL,
    finished_unix_ms  INTEGER NOT NULL,
    outcome           TEXT    NOT NULL
);

-- Who did what: decisions, erasures, views of HR indicators.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix_ms  INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT ''
);
