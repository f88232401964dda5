-- Per-chat notification level (/notify): all | approvals | none; NULL means the config default.
ALTER TABLE chats ADD COLUMN notify TEXT;
