-- Directories that sessions started from the phone ran in: the "recent" buttons of
-- `/new NAME PRESET` without a directory.
CREATE TABLE session_dirs (
    dir     TEXT    PRIMARY KEY,
    used_at INTEGER NOT NULL
);

-- A `/new NAME PRESET` waiting for one of its directory buttons. `dirs` is a JSON array of
-- the offered paths; a button names its index. Taken (deleted) by the first press.
CREATE TABLE dir_choices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    preset     TEXT    NOT NULL,
    dirs       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- What a live screen's message shows now (its HTML), so that an unchanged screen is not sent
-- again (Telegram answers such an edit with 400 "message is not modified"), also after a
-- restart of the bot.
ALTER TABLE live_screens ADD COLUMN shown TEXT;
