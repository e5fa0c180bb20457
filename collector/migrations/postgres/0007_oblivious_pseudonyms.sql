-- Pseudonyms are evaluated obliviously by the collector, for each device
-- within its bound of people: each evaluation, on the collector's clock.
-- Keep in step with the other dialect.
CREATE TABLE pseudonym_evaluations (
    device_id    TEXT    NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    at_unix_ms   BIGINT  NOT NULL,
    count        BIGINT  NOT NULL
);
CREATE INDEX pseudonym_evaluations_device ON pseudonym_evaluations (device_id, at_unix_ms);

-- A person's pseudonym under the key collectors used to send to devices,
-- and their current one: the first link a device that reported the earlier
-- pseudonym sent. Their history was renamed to the current one.
CREATE TABLE pseudonym_links (
    previous_id    TEXT    PRIMARY KEY,
    person_id      TEXT    NOT NULL,
    linked_unix_ms BIGINT  NOT NULL
);
