-- The worst health of a device's disks, for repair suggestions:
-- 'ok', 'warning' or 'failing'; NULL where it could not be read.
-- Keep in step with the other dialect's 0003_disk_health.sql.
ALTER TABLE inventories ADD COLUMN disk_health TEXT;
