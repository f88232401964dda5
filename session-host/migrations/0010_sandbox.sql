-- The sandbox a session was started in (issue 17), so a revived session gets the same boundary.
ALTER TABLE sessions ADD COLUMN sandbox TEXT;           -- profile name; NULL: the host's default
ALTER TABLE sessions ADD COLUMN network TEXT;           -- off | allowlist | open; NULL: the profile's
