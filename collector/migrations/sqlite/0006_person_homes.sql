-- Where a person is counted is decided by facts IT controls, not by which
-- devices send rows: each device that reported a person with figures, and
-- when the collector first and last received such a row (the collector's
-- clock, which a device cannot set). A person's group is the department of
-- the device that reported them first. Keep in step with the other dialect.
CREATE TABLE person_devices (
    person_id          TEXT    NOT NULL,
    device_id          TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    first_seen_unix_ms INTEGER NOT NULL,
    last_seen_unix_ms  INTEGER NOT NULL,
    PRIMARY KEY (person_id, device_id)
) WITHOUT ROWID;
CREATE INDEX person_devices_device ON person_devices (device_id);

INSERT INTO person_devices (person_id, device_id, first_seen_unix_ms, last_seen_unix_ms)
SELECT person_id, device_id, MIN(collected_unix_ms), MAX(collected_unix_ms)
FROM person_days
WHERE COALESCE(meeting_minutes, 0) > 0 OR COALESCE(conflicting_minutes, 0) > 0
   OR COALESCE(back_to_back_count, 0) > 0 OR COALESCE(after_hours_meeting_minutes, 0) > 0
   OR COALESCE(call_minutes, 0) > 0 OR COALESCE(notifications_total, 0) > 0
   OR COALESCE(notifications_after_hours, 0) > 0 OR COALESCE(focus_minutes, 0) > 0
   OR COALESCE(active_minutes, 0) > 0 OR COALESCE(after_hours_active_minutes, 0) > 0
   OR COALESCE(weekend_active_minutes, 0) > 0
GROUP BY person_id, device_id;

-- People whose digital load the device may report in a week (a shared
-- device); NULL: the configured default.
ALTER TABLE devices ADD COLUMN max_people INTEGER;

-- Weeks are keyed in their canonical form only (YYYY-Www).
DELETE FROM indicator_releases WHERE week NOT GLOB '[0-9][0-9][0-9][0-9]-W[0-9][0-9]';
DELETE FROM privacy_budget WHERE week NOT GLOB '[0-9][0-9][0-9][0-9]-W[0-9][0-9]';
