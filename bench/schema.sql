-- mtml-bench result store, schema 1. One SQLite file per run (WAL mode).
-- The runner is the only writer; one transaction per finished cell.
-- Reports always recompute from these raw rows.

CREATE TABLE IF NOT EXISTS manifest (      -- run-level facts, JSON values
    key   TEXT PRIMARY KEY,                -- schema, spec (full TOML as JSON), spec_hash, split_hash, suite,
    value TEXT NOT NULL                    -- git, versions, cpu, threads, device, created, parameter_counts, ...
);

CREATE TABLE IF NOT EXISTS cells (         -- one (method, seed): trained once, scored on every held-out (task, domain)
    method       TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    reason       TEXT,                     -- failure reason (NaN loss, exception text), NULL when done
    parameters   INTEGER,                  -- parameter count of this method's model
    wall_seconds REAL,                     -- whole cell, including harness overhead
    finished_at  TEXT NOT NULL,
    PRIMARY KEY (method, seed)
);

CREATE TABLE IF NOT EXISTS metric_values ( -- raw quality values, one per held-out episode
    method  TEXT NOT NULL,
    seed    INTEGER NOT NULL,
    task    TEXT NOT NULL,
    domain  TEXT NOT NULL,
    episode INTEGER NOT NULL,
    metric  TEXT NOT NULL,
    value   REAL NOT NULL,
    PRIMARY KEY (method, seed, task, domain, episode, metric)
);

CREATE TABLE IF NOT EXISTS timing_samples ( -- raw timer readings; nothing summarised
    source  TEXT NOT NULL CHECK (source IN ('cell', 'speed')),  -- 'speed' = interleaved speed section
    method  TEXT NOT NULL,
    seed    INTEGER NOT NULL,               -- cell seed; for 'speed' the speed-section seed
    phase   TEXT NOT NULL,                  -- meta_train_step | adapt | infer | data
    block   INTEGER NOT NULL DEFAULT 0,     -- 'speed': fresh-process/block index (resampling unit)
    pair    INTEGER NOT NULL DEFAULT 0,     -- 'speed': pair index within a block (methods share it)
    idx     INTEGER NOT NULL,               -- sample index within (source, method, seed, phase, block)
    seconds REAL NOT NULL,
    warmup  INTEGER NOT NULL DEFAULT 0,     -- 1 = warm-up sample, kept but excluded from statistics
    PRIMARY KEY (source, method, seed, phase, block, idx)
);

CREATE TABLE IF NOT EXISTS phase_costs (    -- FLOPs (FlopCounterMode) and peak memory per phase
    method     TEXT NOT NULL,
    phase      TEXT NOT NULL,
    flops      INTEGER,
    peak_bytes INTEGER,
    PRIMARY KEY (method, phase)
);

CREATE TABLE IF NOT EXISTS training_curve ( -- meta-training learning curves
    method  TEXT NOT NULL,
    seed    INTEGER NOT NULL,
    step    INTEGER NOT NULL,
    elapsed REAL NOT NULL,                  -- seconds of meta-training so far (method phases only)
    loss    REAL NOT NULL,                  -- outer loss; per-task values in task_losses JSON
    task_losses TEXT,
    PRIMARY KEY (method, seed, step)
);

CREATE TABLE IF NOT EXISTS speed_blocks (   -- interleaved speed section: one row per finished block (fresh process)
    block       INTEGER PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    reason      TEXT,                       -- failure reason, NULL when done
    finished_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS unadapted_values ( -- the held-out episodes of metric_values, scored BEFORE adaptation
    method  TEXT NOT NULL,                    -- (zero test-time steps: the meta-learned initialisation);
    seed    INTEGER NOT NULL,                 -- metric_values minus these is the adaptation gain
    task    TEXT NOT NULL,
    domain  TEXT NOT NULL,
    episode INTEGER NOT NULL,
    metric  TEXT NOT NULL,
    value   REAL NOT NULL,
    PRIMARY KEY (method, seed, task, domain, episode, metric)
);

CREATE TABLE IF NOT EXISTS val_curve (       -- learning curves: fixed meta-val episodes (the same for every
    method  TEXT NOT NULL,                    -- method at a seed) scored every [training] curve_every steps
    seed    INTEGER NOT NULL,
    step    INTEGER NOT NULL,                 -- meta-train steps done when scored (0 = the initialisation)
    task    TEXT NOT NULL,
    domain  TEXT NOT NULL,                    -- a meta-val domain
    episode INTEGER NOT NULL,
    metric  TEXT NOT NULL,
    value   REAL NOT NULL,
    PRIMARY KEY (method, seed, step, task, domain, episode, metric)
);

CREATE TABLE IF NOT EXISTS scaling_costs (  -- scaling study ([speed] grid, docs/scaling.md): FLOPs and peak memory
    point      INTEGER NOT NULL,            -- per phase at each grid point (index in SpeedSpec.points() order),
    method     TEXT NOT NULL,               -- counted in the point's first block
    phase      TEXT NOT NULL,
    flops      INTEGER,
    peak_bytes INTEGER,
    PRIMARY KEY (point, method, phase)
);
