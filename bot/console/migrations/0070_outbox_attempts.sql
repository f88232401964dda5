-- Deliveries tried per outbox item. A queued `/new` (kind 'new', the session's spec as
-- JSON) is answered "name taken" when a delivery cut off mid-way had already started it:
-- with an attempt behind it, that answer means delivered, never a second session.
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
