// Schema migrations, keyed on PRAGMA user_version. Migration i takes the schema from version i
// to i+1 and runs in one transaction with the version bump, so a crash mid-migration leaves the
// file at the old version, never half-migrated. Append only: never edit a shipped migration.
export const migrations: readonly string[] = [
  // 0 → 1: the foundation tables.
  `
  CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    architecture TEXT NOT NULL,
    -- Where it was found: added by the user, the Hugging Face cache, or shipped with the app.
    source TEXT NOT NULL DEFAULT 'added' CHECK (source IN ('added', 'hf-cache', 'bundled')),
    info TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL
  );
  CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    info TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL
  );
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled','interrupted')),
    config TEXT NOT NULL,
    model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
    dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    -- The process that runs it; at start-up a "running" run whose owner is gone is interrupted.
    owner_pid INTEGER
  );
  CREATE INDEX runs_status ON runs(status);
  CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, name, step)
  ) WITHOUT ROWID;
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX checkpoints_run ON checkpoints(run_id, step);
  CREATE TABLE run_log (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('info','warn','error')),
    message TEXT NOT NULL
  );
  CREATE INDEX run_log_run ON run_log(run_id, id);
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 1 → 2: feature indexes (src/jobs/features/index.ts, docs/features.md). One row per index run
  // (the layer run it indexes is kept as a plain id, so deleting the layer leaves its index
  // browsable) and one row per unit: the sortable statistics as columns, the rest as a compact
  // binary record (src/analysis/features/codec.ts).
  `
  CREATE TABLE feature_indexes (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    layer_run_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    block INTEGER NOT NULL,
    width INTEGER NOT NULL,
    k INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    seq_len INTEGER NOT NULL,
    dead INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX feature_indexes_layer ON feature_indexes(layer_run_id, run_id);
  CREATE TABLE feature_units (
    run_id INTEGER NOT NULL REFERENCES feature_indexes(run_id) ON DELETE CASCADE,
    unit INTEGER NOT NULL,
    count INTEGER NOT NULL,
    mean REAL NOT NULL,
    max REAL NOT NULL,
    detail BLOB NOT NULL,
    PRIMARY KEY (run_id, unit)
  );
  CREATE INDEX feature_units_count ON feature_units(run_id, count);
  CREATE INDEX feature_units_max ON feature_units(run_id, max);
  `,
  // 2 → 3: the user's label and notes on a unit. Keyed on the layer run, not the index, so a
  // re-index keeps them; deleting the layer run deletes them (the cascade).
  `
  CREATE TABLE feature_labels (
    layer_run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    unit INTEGER NOT NULL,
    label TEXT NOT NULL,
    notes TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (layer_run_id, unit)
  ) WITHOUT ROWID;
  `,
  // 3 → 4: steering presets (src/shared/steering.ts, docs/steering.md): the user's saved steering
  // settings, one row per name; the settings as JSON, validated by SteeringSettings on read and
  // write. The paper's preset is built in (code, not a row), so it can never be deleted.
  `
  CREATE TABLE steering_presets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 4 → 5: image datasets (src/data/images, docs/images.md) share the datasets table; a row's
  // modality says which reader its path needs. Rows from before are text.
  `
  ALTER TABLE datasets ADD COLUMN modality TEXT NOT NULL DEFAULT 'text' CHECK (modality IN ('text', 'images'));
  `,
  // 5 → 6: privacy certificates (src/shared/privacy.ts, docs/privacy.md): one row per certificate a
  // privacy-certify run wrote. The folder (certificate.json, weights, report) is the certificate;
  // the row lists it with its headline numbers and its latest verification. Deleting the certify
  // run deletes the row. train_run_id is not a foreign key on purpose: the folder holds w* and the
  // model config, so a certificate stays verifiable after its classifier run is deleted.
  `
  CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
    train_run_id INTEGER NOT NULL,
    dir TEXT NOT NULL,
    model TEXT NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    sigma REAL NOT NULL,
    sensitivity REAL NOT NULL,
    useful INTEGER NOT NULL CHECK (useful IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('issued', 'verified', 'failed')),
    created_at TEXT NOT NULL,
    verified_at TEXT,
    verify_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL
  );
  `,
]

export const SCHEMA_VERSION = migrations.length
