-- Live pictures (`/watch NAME`): the document message in each chat that shows a session's
-- screen, so that a restarted bot goes on editing the same message (its keys and Stop keep
-- working) or, past `until_at`, gives it its final note. `shown` is the hash of the last
-- snapshot on the phone (an unchanged screen is not sent again), `caption` the caption it
-- carries (the final note is added to it).
CREATE TABLE live_pictures (
    chat_id    INTEGER NOT NULL,
    host       TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    message_id INTEGER NOT NULL,
    until_at   INTEGER NOT NULL,
    shown      TEXT,
    caption    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (chat_id, host, session)
);
