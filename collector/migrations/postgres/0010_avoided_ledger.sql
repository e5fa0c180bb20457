-- The ledger of what done suggestions avoided, append-only: an entry per
-- device whose replacement (or whose yearly share, for an extension) was
-- avoided, in the accounting view it belongs to, with the factors used.
-- Undoing a decision writes the reversal (`reverses`). A device counts once
-- per view while its entry stands. Keep in step with the other dialect.
CREATE TABLE avoided_ledger (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    suggestion_id  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    device_id      TEXT    NOT NULL,
    view           TEXT    NOT NULL CHECK (view IN ('capital_goods', 'lifetime_allocation')),
    year           BIGINT  NOT NULL,
    kgco2e         DOUBLE PRECISION NOT NULL,
    kgco2e_low     DOUBLE PRECISION NOT NULL,
    kgco2e_high    DOUBLE PRECISION NOT NULL,
    factors        TEXT    NOT NULL,
    -- Set on a reversal: the entry it cancels.
    reverses       BIGINT REFERENCES avoided_ledger (id),
    at_unix_ms     BIGINT NOT NULL
);
CREATE INDEX avoided_ledger_device ON avoided_ledger (device_id, view);
CREATE INDEX avoided_ledger_suggestion ON avoided_ledger (suggestion_id);
