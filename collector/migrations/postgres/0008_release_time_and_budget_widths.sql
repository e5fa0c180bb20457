-- A release's time is in milliseconds since 1970, which overflows a 32-bit
-- INTEGER, and a group's spent epsilon is summed against its budget, which
-- wants double precision: both as wide as SQLite stores them.
ALTER TABLE indicator_releases ALTER COLUMN released_unix_ms TYPE BIGINT;
ALTER TABLE privacy_budget ALTER COLUMN epsilon_spent TYPE DOUBLE PRECISION;
