-- Releases of HR indicators under differential privacy: a week's noisy
-- figures are drawn once and served as drawn, and the privacy budget each
-- group and week has spent is kept. Keep in step with the other dialect.
CREATE TABLE indicator_releases (
    week              TEXT    PRIMARY KEY,
    release_json      TEXT    NOT NULL,
    released_unix_ms  INTEGER NOT NULL
);

CREATE TABLE privacy_budget (
    week           TEXT    NOT NULL,
    group_name     TEXT    NOT NULL,
    epsilon_spent  REAL    NOT NULL,
    PRIMARY KEY (week, group_name)
);

-- A digest of a suggestion's whole content: recomputation rewrites only the
-- suggestions whose content changed.
ALTER TABLE suggestions ADD COLUMN content_sha256 TEXT;
