-- The device list and the suggestions page stay fast at 100,000 devices.
-- The device list sorts 100,000 devices by any of its columns: the latest
-- inventory's model, chassis and age date are kept on the device (ingest
-- updates them with inventory_unix_ms), and each sort key has an index that
-- ends with the id, the list's tie-breaker. Keep in step with the other dialect.
ALTER TABLE devices ADD COLUMN chassis TEXT;
ALTER TABLE devices ADD COLUMN model TEXT;
ALTER TABLE devices ADD COLUMN age_since_date TEXT;

UPDATE devices SET
    chassis = (SELECT i.chassis FROM inventories i
               WHERE i.device_id = devices.id AND i.collected_unix_ms = devices.inventory_unix_ms),
    model = (SELECT i.model FROM inventories i
             WHERE i.device_id = devices.id AND i.collected_unix_ms = devices.inventory_unix_ms),
    age_since_date = (SELECT i.age_since_date FROM inventories i
                      WHERE i.device_id = devices.id AND i.collected_unix_ms = devices.inventory_unix_ms)
WHERE inventory_unix_ms IS NOT NULL;

CREATE INDEX devices_sort_hostname ON devices (hostname, id);
CREATE INDEX devices_sort_department ON devices (department, hostname, id);
CREATE INDEX devices_sort_chassis ON devices (chassis, id);
CREATE INDEX devices_sort_model ON devices (model, id);
CREATE INDEX devices_sort_age ON devices (age_since_date, id);
CREATE INDEX devices_sort_last_seen ON devices (last_seen_unix_ms, id);
-- Enrolled devices per department, from the index alone.
CREATE INDEX devices_department_revoked ON devices (department, revoked_unix_ms);

-- The suggestions page lists one status (open by default), optionally of one
-- kind, by avoided kgCO2e. (status, kind, …) replaces the (status, kind)
-- index it extends: every index slows the hourly rewrite of suggestions.
CREATE INDEX suggestions_by_status ON suggestions (status, avoided_kgco2e, id);
DROP INDEX suggestions_status_kind;
CREATE INDEX suggestions_by_kind ON suggestions (status, kind, avoided_kgco2e, id);
