-- Where in the session's recording a dispatch was typed (seconds, the host's `Typed { at }`),
-- so "what did the agent do after that?" is a `walkie replay --from` away. (Numbered after
-- issue 13, clear of other branches' next migrations; sqlx applies them in order.)
ALTER TABLE audit_log ADD COLUMN recording_at REAL;
