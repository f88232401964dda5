-- The offline outbox: what a chat sent to a session on a host that was down, delivered in
-- order (by id) when the host is back, each item once: `dispatch_id` goes with the input
-- and the remote host types each id once. `state`: queued, delivered, cancelled, expired,
-- failed. `message_id`: the chat's "queued" message, edited to what became of it.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dispatch_id  TEXT    NOT NULL UNIQUE,
    host         TEXT    NOT NULL,
    session      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,  -- 'text' (a line, Enter after) or 'keys' (chunks, JSON)
    payload      TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    chat_id      INTEGER NOT NULL,
    user_id      INTEGER,
    message_id   INTEGER,
    state        TEXT    NOT NULL DEFAULT 'queued',
    detail       TEXT,
    created_at   INTEGER NOT NULL,  -- unix seconds
    settled_at   INTEGER
);
CREATE INDEX outbox_queued ON outbox (host, state, id);
