-- Scheduled dispatch from the phone (issue 16, second part): confirmation cards edited in
-- place, drafts that wait for the chat's zone question, and queued runs kept across a restart.

-- The card's message, so that Create / Cancel and the overlap buttons edit it in place.
ALTER TABLE schedule_drafts ADD COLUMN message_id INTEGER;
-- The line as typed (or the transcript, `spoken` = 1), parsed again in the zone the chat
-- picks; state 'zone' while the chat's zone question is open.
ALTER TABLE schedule_drafts ADD COLUMN line TEXT;
ALTER TABLE schedule_drafts ADD COLUMN spoken INTEGER NOT NULL DEFAULT 0;

-- A run held for a busy target (overlap `queue`), one per job at most: taken exactly once
-- (`DELETE ... RETURNING`) when the target is idle, so a restart resumes the wait and
-- never delivers it twice.
CREATE TABLE schedule_queue (
    job_id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    -- The fire time it is for (Unix seconds).
    fired_at INTEGER NOT NULL,
    queued_at INTEGER NOT NULL,
    -- The job as it fired (walkie-schedule `Job` JSON) and its chat: a one-shot job is
    -- gone from schedule_jobs once fired, and its queued run is still delivered.
    job TEXT NOT NULL,
    chat_id INTEGER
);
