-- Session records, so that sessions survive in `walkie ls` across host restarts (as `lost`).
CREATE TABLE IF NOT EXISTS sessions (
    name        TEXT PRIMARY KEY NOT NULL,
    command     TEXT NOT NULL,            -- JSON array of strings
    cwd         TEXT NOT NULL,
    env         TEXT NOT NULL DEFAULT '[]', -- JSON array of [key, value]: the extra env given at creation only
    cols        INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    state       TEXT NOT NULL,            -- running | paused | exited | lost
    pid         INTEGER,
    exit_code   INTEGER,
    exit_signal TEXT,
    ended_ms    INTEGER
);
