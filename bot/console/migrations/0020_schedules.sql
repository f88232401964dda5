-- Scheduled dispatch (issue 16). A job is walkie-schedule's `Job` as JSON (schedule, zone,
-- target, text, policies, paused, settled) beside the columns the timer and the CLI query.
CREATE TABLE schedule_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The chat its runs are posted to; NULL (made by `walkie schedule add`): the operators'
    -- private chats.
    chat_id INTEGER,
    job TEXT NOT NULL,
    -- Columns of their own (the JSON's copies are ignored), so that a pause from the CLI
    -- and the timer's settling never overwrite each other.
    paused INTEGER NOT NULL DEFAULT 0,
    -- Every fire at or before this (Unix seconds) was run or reported.
    settled INTEGER NOT NULL,
    -- The latest fire time that was run (Unix seconds), for `ls`.
    last_fired INTEGER,
    created_at INTEGER NOT NULL
);

-- Every fire of every job: delivered, queued, skipped (busy), missed, failed (with why).
CREATE TABLE schedule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    -- The fire time the run was for (Unix seconds); for missed runs the first missed one.
    fired_at INTEGER NOT NULL,
    -- When the bot handled it.
    at INTEGER NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX schedule_runs_job ON schedule_runs (job_id, id);

-- `/schedule add` lines waiting for Create / Cancel on their confirmation card.
CREATE TABLE schedule_drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    -- The proposed job (walkie-schedule `Job` JSON, id 0), as its card showed it.
    draft TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
);

-- "Run now" asked from the terminal: taken once by the running bot
-- (`UPDATE ... WHERE taken = 0`), or withdrawn by the CLI if no bot took it.
CREATE TABLE schedule_run_now (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    asked_at INTEGER NOT NULL,
    taken INTEGER NOT NULL DEFAULT 0
);

-- One row: bumped by every change of the jobs (bot or CLI), so the running bot notices a
-- change by reading one integer.
CREATE TABLE schedule_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO schedule_generation (id, value) VALUES (1, 0);

-- The chat's time zone for its jobs (IANA name); NULL until the chat is first asked.
ALTER TABLE chats ADD COLUMN zone TEXT;
