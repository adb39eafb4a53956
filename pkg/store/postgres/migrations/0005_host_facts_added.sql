-- srvmon issue 11, heartbeats: a push:// monitor that never got a push is
-- judged down once its grace has passed since it was added, and a push
-- that said down keeps it down for its grace. host_facts gains:
--
--   added: when the host was added (AddHost, PutMonitor creating it,
--     Restore adding it); NULL for a host added before this migration or
--     by gosrvmon, which is then never judged before its first push;
--   last_push_up, last_push_reason: the verdict of the push at last_push.
--
-- A new migration rather than an edit of 0004, which databases migrated
-- by earlier builds of main hold already: the migration runner records
-- versions, not contents, so an edited 0004 would leave them without
-- these columns.
ALTER TABLE host_facts
	ADD COLUMN added timestamptz,
	ADD COLUMN last_push_up boolean NOT NULL DEFAULT false,
	ADD COLUMN last_push_reason text NOT NULL DEFAULT '';
