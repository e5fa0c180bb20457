-- The ledger of what done suggestions avoided, append-only: an entry per
-- device whose replacement (or whose yearly share, for an extension) was
-- avoided, in the accounting view it belongs to, with the factors used.
-- Undoing a decision writes the reversal (`reverses`). A device counts once
-- per view while its entry stands. Keep in step with the other dialect.
CREATE TABLE avoided_ledger (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    suggestion_id  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    device_id      TEXT    NOT NULL,
    view           TEXT    NOT NULL CHECK (view IN ('capital_goods', 'lifetime_allocation')),
    year           INTEGER NOT NULL,
    kgco2e         REAL    NOT NULL,
    kgco2e_low     REAL    NOT NULL,
    kgco2e_high    REAL    NOT NULL,
    factors        TEXT    NOT NULL,
    -- Set on a reversal: the entry it cancels.
    reverses       INTEGER REFERENCES avoided_ledger (id),
    at_unix_ms     INTEGER NOT NULL
);
CREATE INDEX avoided_ledger_device ON avoided_ledger (device_id, view);
CREATE INDEX avoided_ledger_suggestion ON avoided_ledger (suggestion_id);
