-- Per-model footprints: the firmware's family name (Lenovo keeps the
-- marketing name there, beside a machine-type code), and a footprint the
-- organisation pins by hand in its asset register, which wins over the
-- model's and the category's. Keep in step with the other dialect.
ALTER TABLE inventories ADD COLUMN model_family TEXT;
ALTER TABLE assets ADD COLUMN embodied_kgco2e REAL;
