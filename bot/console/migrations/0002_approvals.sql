-- Approvals asked through the session host (agent hooks, `walkie ask`), their cards and
-- their decisions. Times are Unix milliseconds (UTC), as the host and the approval model
-- count them.

-- One row per ask the host announced. `id` is the host's ask id (unique across host
-- restarts); `approval` is the approval model's JSON (subject, deadline, and once decided
-- the outcome, who and when). `state` mirrors it for the `WHERE state = 'pending'` that
-- makes a decision happen exactly once.
CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY,
    session    TEXT    NOT NULL,
    approval   TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'decided')),
    -- The host process that holds the ask: after a host restart its asks are gone.
    host_pid   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    decided_ms INTEGER
);
CREATE INDEX approvals_pending ON approvals (state, id);

-- The messages showing an approval, so that they can be edited when it is decided, also
-- after a bot restart.
CREATE TABLE approval_cards (
    approval_id INTEGER NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    -- 1 when the card carries buttons (operators' chats), 0 for viewers.
    buttons     INTEGER NOT NULL,
    PRIMARY KEY (approval_id, chat_id)
);

-- "Approve for this session": rules a session has collected. A session is identified by
-- its name and its creation time, so a new session reusing a name starts with none.
CREATE TABLE approval_session_rules (
    session    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    rule       TEXT    NOT NULL,  -- policy::SessionRule as JSON
    added_ms   INTEGER NOT NULL,
    PRIMARY KEY (session, created_ms, rule)
);
