-- The Telegram bot's state. Times are Unix seconds (UTC).

-- Each chat's current session (where plain text goes).
CREATE TABLE chats (
    chat_id         INTEGER PRIMARY KEY,
    current_session TEXT,
    updated_at      INTEGER NOT NULL
);

-- The message showing a session's live screen in a chat, so that a restarted bot keeps
-- editing the same message instead of posting a new one.
CREATE TABLE live_screens (
    chat_id    INTEGER NOT NULL,
    session    TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, session)
);

-- Which session a bot message belongs to, so that replying to it routes to that session.
CREATE TABLE session_messages (
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    session    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- Everything done or refused: who, where, to which session, what, and from where.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    user_id INTEGER,
    chat_id INTEGER,
    session TEXT,
    action  TEXT    NOT NULL,  -- dispatch, command, refused, ...
    source  TEXT,              -- text, voice, button
    text    TEXT,
    detail  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user ON audit_log (user_id, at);

-- Voice transcripts and what became of them.
CREATE TABLE transcripts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id         INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    voice_message_id INTEGER NOT NULL,
    card_message_id INTEGER,
    session         TEXT,
    text            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'editing', 'sent', 'cancelled')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Telegram update ids already taken on. An update is claimed before it is dispatched
-- and marked done after, so a restart never dispatches it twice.
CREATE TABLE processed_updates (
    update_id  INTEGER PRIMARY KEY,
    state      TEXT    NOT NULL CHECK (state IN ('claimed', 'done')),
    claimed_at INTEGER NOT NULL,
    done_at    INTEGER
);

-- Users not on any list: when they were last answered (one refusal per hour at most).
CREATE TABLE strangers (
    user_id          INTEGER PRIMARY KEY,
    first_seen       INTEGER NOT NULL,
    last_refused_at  INTEGER NOT NULL,
    last_answered_at INTEGER,
    refusals         INTEGER NOT NULL DEFAULT 0
);
