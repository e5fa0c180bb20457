-- A device's department over time: a row from its enrollment, then one per
-- move (by IT, or by a reuse marked done). Hours of use count for the
-- department the device was in at that hour. Keep in step with the other
-- dialect.
CREATE TABLE device_departments (
    device_id     TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    from_unix_ms  BIGINT  NOT NULL,
    department    TEXT    NOT NULL REFERENCES departments (name),
    recorded_by   TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    -- The decision that moved it, when one did: undoing it moves it back.
    suggestion_id TEXT,
    PRIMARY KEY (device_id, from_unix_ms)
);
INSERT INTO device_departments (device_id, from_unix_ms, department, recorded_by, reason)
SELECT id, enrolled_unix_ms, department, 'enrollment', 'enrolled' FROM devices;

-- Since when the device is in its current department: hours before it
-- look their department up in the history (0: it never moved).
ALTER TABLE devices ADD COLUMN department_since_unix_ms BIGINT NOT NULL DEFAULT 0;

-- The device's category as the analysis sees it (the register's, else the
-- agent's chassis; `other` when neither is one the analysis knows), kept
-- for the department rollup. Set from the facts at start-up (marker below).
ALTER TABLE devices ADD COLUMN category TEXT NOT NULL DEFAULT 'other';

-- The department rollup gains the category: pools are per department and
-- per category. Existing rows start as `other` and are re-keyed from the
-- hourly buckets at start-up; hours older than the buckets' retention stay
-- under `other` (the analysis window never reaches them).
CREATE TABLE department_category_hours (
    department         TEXT    NOT NULL,
    category           TEXT    NOT NULL,
    hour_start_unix_ms BIGINT  NOT NULL,
    active_devices     BIGINT  NOT NULL,
    PRIMARY KEY (department, category, hour_start_unix_ms)
);
INSERT INTO department_category_hours (department, category, hour_start_unix_ms, active_devices)
SELECT department, 'other', hour_start_unix_ms, active_devices FROM department_hours;
DROP TABLE department_hours;
ALTER TABLE department_category_hours RENAME TO department_hours;
CREATE INDEX department_hours_hour ON department_hours (hour_start_unix_ms);
INSERT INTO settings (key, value) VALUES ('device_categories_stale', '1')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- The decision that recorded a disposal (a reuse marked done retires the
-- device it replaces): undoing the decision removes it.
ALTER TABLE disposals ADD COLUMN suggestion_id TEXT;

-- Devices that form a department's shared pool, from a pool suggestion
-- marked done.
CREATE TABLE pool_members (
    device_id     TEXT    PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    department    TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    suggestion_id TEXT    NOT NULL,
    since_unix_ms BIGINT  NOT NULL
);
CREATE INDEX pool_members_suggestion ON pool_members (suggestion_id);
