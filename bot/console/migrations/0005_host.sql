-- A host dimension on every session reference: sessions are named per host, and the host
-- they live on is part of the reference. Rows made before there was more than one host are
-- the local host's. Tables whose key holds a session are rebuilt so the key holds the host.

ALTER TABLE chats ADD COLUMN current_host TEXT NOT NULL DEFAULT 'local';
ALTER TABLE session_messages ADD COLUMN host TEXT NOT NULL DEFAULT 'local';
ALTER TABLE audit_log ADD COLUMN host TEXT;
UPDATE audit_log SET host = 'local' WHERE session IS NOT NULL;
ALTER TABLE transcripts ADD COLUMN host TEXT NOT NULL DEFAULT 'local';
ALTER TABLE approvals ADD COLUMN host TEXT NOT NULL DEFAULT 'local';

CREATE TABLE live_screens_new (
    chat_id    INTEGER NOT NULL,
    host       TEXT    NOT NULL DEFAULT 'local',
    session    TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, host, session)
);
INSERT INTO live_screens_new (chat_id, host, session, message_id, updated_at)
    SELECT chat_id, 'local', session, message_id, updated_at FROM live_screens;
DROP TABLE live_screens;
ALTER TABLE live_screens_new RENAME TO live_screens;

CREATE TABLE approval_session_rules_new (
    host       TEXT    NOT NULL DEFAULT 'local',
    session    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    rule       TEXT    NOT NULL,  -- policy::SessionRule as JSON
    added_ms   INTEGER NOT NULL,
    PRIMARY KEY (host, session, created_ms, rule)
);
INSERT INTO approval_session_rules_new (host, session, created_ms, rule, added_ms)
    SELECT 'local', session, created_ms, rule, added_ms FROM approval_session_rules;
DROP TABLE approval_session_rules;
ALTER TABLE approval_session_rules_new RENAME TO approval_session_rules;
