-- What it takes to bring a session back after the host went away (see src/revive.rs).
ALTER TABLE sessions ADD COLUMN launch TEXT;            -- JSON argv a resume is built from; NULL: the command
ALTER TABLE sessions ADD COLUMN preset TEXT;
ALTER TABLE sessions ADD COLUMN resume TEXT;            -- JSON: a preset's resume template
ALTER TABLE sessions ADD COLUMN agent TEXT;             -- claude | codex
ALTER TABLE sessions ADD COLUMN agent_id TEXT;          -- the agent's own session id, the latest
ALTER TABLE sessions ADD COLUMN record INTEGER NOT NULL DEFAULT 1;
-- 1: it was running when the host last stopped, and no revival has claimed it yet.
ALTER TABLE sessions ADD COLUMN revive_pending INTEGER NOT NULL DEFAULT 0;
