-- The `--sandbox` / `--network` flags of a `/new NAME PRESET` waiting for its directory
-- button, so the press starts the session with the boundary that was asked for (NULL: the
-- preset's).
ALTER TABLE dir_choices ADD COLUMN sandbox TEXT;
ALTER TABLE dir_choices ADD COLUMN network TEXT;
