-- Sobrio collector schema (PostgreSQL). Times are Unix milliseconds (UTC).
-- Keep in step with ../sqlite/0001_schema.sql: same tables, same columns.

-- Small facts of the installation: the policy's pseudonym key, markers.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The collector CA, shared by every replica on the same store.
CREATE TABLE certificate_authority (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    certificate_pem TEXT    NOT NULL,
    key_pem         TEXT    NOT NULL,
    created_unix_ms BIGINT NOT NULL
);

CREATE TABLE departments (
    name            TEXT PRIMARY KEY,
    created_unix_ms BIGINT NOT NULL
);

-- Tokens are kept as SHA-256 digests: a token is 256 random bits, so a fast
-- hash is enough and the database never holds a usable token.
CREATE TABLE enrollment_tokens (
    token_sha256    BYTEA    PRIMARY KEY,
    department      TEXT    NOT NULL REFERENCES departments (name),
    created_unix_ms BIGINT NOT NULL,
    expires_unix_ms BIGINT NOT NULL,
    max_uses        BIGINT,
    uses            BIGINT NOT NULL DEFAULT 0,
    revoked_unix_ms BIGINT
);

CREATE TABLE devices (
    id                            TEXT    PRIMARY KEY,
    hostname                      TEXT    NOT NULL,
    department                    TEXT    NOT NULL REFERENCES departments (name),
    agent_version                 TEXT    NOT NULL,
    enrolled_unix_ms              BIGINT NOT NULL,
    last_seen_unix_ms             BIGINT,
    revoked_unix_ms               BIGINT,
    certificate_serial            TEXT    NOT NULL,
    certificate_not_after_unix_ms BIGINT NOT NULL,
    bearer_secret_sha256          BYTEA    NOT NULL,
    reports                       BIGINT NOT NULL DEFAULT 0,
    -- collected_unix_ms of the device's latest inventory row.
    inventory_unix_ms             BIGINT
);
CREATE INDEX devices_department ON devices (department);

-- Every accepted report, once (idempotent on report_id), as received.
CREATE TABLE reports (
    report_id         TEXT    PRIMARY KEY,
    device_id         TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms BIGINT NOT NULL,
    received_unix_ms  BIGINT NOT NULL,
    payload           BYTEA    NOT NULL
);
CREATE INDEX reports_device_collected ON reports (device_id, collected_unix_ms);
CREATE INDEX reports_received ON reports (received_unix_ms);

-- Inventory history: one row per inventory received.
CREATE TABLE inventories (
    device_id              TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms      BIGINT NOT NULL,
    hostname               TEXT    NOT NULL,
    vendor                 TEXT,
    model                  TEXT,
    serial_number          TEXT,
    chassis                TEXT    NOT NULL,
    cpu_model              TEXT,
    cpu_logical_cores      BIGINT,
    memory_bytes           BIGINT,
    disk_bytes             BIGINT,
    os_name                TEXT,
    os_version             TEXT,
    bios_date              TEXT,
    age_since_date         TEXT,
    age_source             TEXT,
    battery_health_percent DOUBLE PRECISION,
    battery_cycles         BIGINT,
    PRIMARY KEY (device_id, collected_unix_ms)
);
CREATE INDEX inventories_serial ON inventories (serial_number);

-- Hourly use buckets; a later copy of an hour (a fuller one) replaces it.
CREATE TABLE usage_hours (
    device_id          TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    hour_start_unix_ms BIGINT NOT NULL,
    powered_minutes    BIGINT NOT NULL,
    active_minutes     BIGINT,
    cpu_p95_percent    DOUBLE PRECISION,
    memory_p95_percent DOUBLE PRECISION,
    disk_fill_percent  DOUBLE PRECISION,
    PRIMARY KEY (device_id, hour_start_unix_ms)
);
CREATE INDEX usage_hours_start ON usage_hours (hour_start_unix_ms);

-- Rollup: per device and ISO week (Monday 00:00 UTC), maintained at ingest.
-- An hour is active with at least 15 active minutes; hot when its p95 is at
-- least 90%.
CREATE TABLE device_weeks (
    device_id             TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    week_start_unix_ms    BIGINT NOT NULL,
    powered_hours         BIGINT NOT NULL,
    active_hours          BIGINT NOT NULL,
    cpu_hot_hours         BIGINT NOT NULL,
    memory_hot_hours      BIGINT NOT NULL,
    disk_fill_max_percent DOUBLE PRECISION,
    PRIMARY KEY (device_id, week_start_unix_ms)
);
CREATE INDEX device_weeks_week ON device_weeks (week_start_unix_ms);

-- Rollup: per department and hour, how many of its devices were active.
CREATE TABLE department_hours (
    department         TEXT    NOT NULL,
    hour_start_unix_ms BIGINT NOT NULL,
    active_devices     BIGINT NOT NULL,
    PRIMARY KEY (department, hour_start_unix_ms)
);

-- Storage snapshots: volumes and reclaimable totals by category.
CREATE TABLE storage_snapshots (
    device_id               TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms       BIGINT NOT NULL,
    total_bytes             BIGINT NOT NULL,
    used_bytes              BIGINT NOT NULL,
    scanned_unix_ms         BIGINT,
    duplicate_groups        BIGINT,
    duplicate_files         BIGINT,
    duplicate_bytes         BIGINT,
    temp_bytes              BIGINT,
    cache_bytes             BIGINT,
    trash_bytes             BIGINT,
    stale_bytes             BIGINT,
    mail_archives_bytes     BIGINT,
    old_downloads_bytes     BIGINT,
    PRIMARY KEY (device_id, collected_unix_ms)
);

-- Person-day digital load as each device saw it; merged across a person's
-- devices only when indicators are computed. Never served as such.
CREATE TABLE person_days (
    person_id                   TEXT    NOT NULL,
    day                         TEXT    NOT NULL,
    device_id                   TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collected_unix_ms           BIGINT NOT NULL,
    meeting_minutes             BIGINT,
    meeting_count               BIGINT,
    conflicting_minutes         BIGINT,
    back_to_back_count          BIGINT,
    after_hours_meeting_minutes BIGINT,
    call_minutes                BIGINT,
    notifications_total         BIGINT,
    notifications_after_hours   BIGINT,
    notifications_chat          BIGINT,
    notifications_mail          BIGINT,
    notifications_calendar      BIGINT,
    notifications_other         BIGINT,
    focus_minutes               BIGINT,
    active_minutes              BIGINT,
    after_hours_active_minutes  BIGINT,
    weekend_active_minutes      BIGINT,
    PRIMARY KEY (person_id, day, device_id)
);
CREATE INDEX person_days_day ON person_days (day);
CREATE INDEX person_days_device ON person_days (device_id);

-- Weeks whose indicators were computed: person-day rows of a week are
-- deleted a retention period after it.
CREATE TABLE aggregated_weeks (
    week_start_day     TEXT    PRIMARY KEY,
    week_end_day       TEXT    NOT NULL,
    aggregated_unix_ms BIGINT NOT NULL
);

-- The organisation's asset register, keyed by serial number.
CREATE TABLE assets (
    serial            TEXT PRIMARY KEY,
    hostname          TEXT,
    category          TEXT,
    purchase_date     TEXT,
    price_eur         DOUBLE PRECISION,
    department        TEXT,
    warranty_end      TEXT,
    imported_unix_ms  BIGINT NOT NULL
);
CREATE INDEX assets_hostname ON assets (hostname);

-- Leases so that periodic jobs run on one replica only.
CREATE TABLE leases (
    name            TEXT    PRIMARY KEY,
    holder          TEXT    NOT NULL,
    expires_unix_ms BIGINT NOT NULL
);

CREATE TABLE job_runs (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job               TEXT    NOT NULL,
    holder            TEXT    NOT NULL,
    started_unix_ms   BIGINT NOT NULL,
    finished_unix_ms  BIGINT NOT NULL,
    outcome           TEXT    NOT NULL
);

-- Who did what: decisions, erasures, views of HR indicators.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_unix_ms  BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    detail      TEXT    NOT NULL DEFAULT ''
);
