-- Devices retired from the fleet and where they went, with the facts the
-- disposal report needs kept as they were on the day (department,
-- category, first day of use). A retired device leaves the analysis.
-- Keep in step with the other dialect.
CREATE TABLE disposals (
    device_id        TEXT    PRIMARY KEY,
    hostname         TEXT    NOT NULL,
    department       TEXT    NOT NULL,
    category         TEXT    NOT NULL,
    -- YYYY-MM-DD; NULL when neither the register nor the agent knew it.
    first_use        TEXT,
    retired_on       TEXT    NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('reused_internally', 'donated', 'sold_refurbished', 'recycled')),
    note             TEXT    NOT NULL DEFAULT '',
    recorded_by      TEXT    NOT NULL,
    recorded_unix_ms INTEGER NOT NULL
);
CREATE INDEX disposals_retired_on ON disposals (retired_on);
