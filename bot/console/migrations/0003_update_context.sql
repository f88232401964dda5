-- Which chat an update came from and what it said, so that an update claimed but not
-- finished when the bot died can be reported to its chat instead of vanishing silently.
ALTER TABLE processed_updates ADD COLUMN chat_id INTEGER;
ALTER TABLE processed_updates ADD COLUMN summary TEXT;
