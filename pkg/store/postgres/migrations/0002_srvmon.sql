-- srvmon: results get a location and a reason, and are unique on
-- (host, slot, location); notification state and the webhook outbox get
-- tables of their own.
--
-- gosrvmon's tables and columns keep their names and types (check_time is
-- the slot, still a UTC timestamp without time zone): adding columns with
-- constant defaults only changes the catalog, so a gosrvmon database of
-- any size is upgraded by rebuilding one index, and gosrvmon's inserts
-- and reads still work on the upgraded tables.

ALTER TABLE checks ADD COLUMN location text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE checks ADD COLUMN reason text NOT NULL DEFAULT '';

-- The key becomes (host, check_time, location): its index serves every
-- read of a host's range in (slot, location) order, the newest slot by a
-- backward seek, and the idempotent inserts. It includes up, rtt and
-- reason, so that chart buckets and streams of results (/api/checks,
-- backups) are read from the index alone (an index-only scan, where
-- vacuum has marked the pages all-visible: half again as fast as one that
-- visits the table for each row). A reason is short, and empty when up.
--
-- No foreign key from checks to hosts: checking it costs a query per
-- row, doubling the time of a round's insert and of a restore. The store
-- keeps the rule itself: results are inserted through a join with hosts,
-- a host's results are deleted with it in one transaction, and the two
-- are kept apart by a lock (see DeleteHost).
DO $$
DECLARE
	c name;
BEGIN
	FOR c IN SELECT conname FROM pg_constraint
		WHERE conrelid = 'checks'::regclass AND contype IN ('p', 'f')
	LOOP
		EXECUTE format('ALTER TABLE checks DROP CONSTRAINT %I', c);
	END LOOP;
END
$$;
ALTER TABLE checks ADD CONSTRAINT checks_pkey PRIMARY KEY (host, check_time, location) INCLUDE (up, rtt, reason);

-- Slots with a result from a named location: the only ones whose results
-- must be merged before they are counted (Buckets).
CREATE INDEX checks_located_idx ON checks (host, check_time) WHERE location <> '';

-- gosrvmon's BRIN indexes: the B-tree indexes serve every query.
DROP INDEX IF EXISTS checks_check_time_idx;
DROP INDEX IF EXISTS state_change_params_host_idx;

-- A host's notification state; it goes with the host's rule. Every round
-- updates it: the free space left in each page lets the new versions stay
-- on their page (HOT updates, no index entry).
CREATE TABLE notification_states (
	host text NOT NULL,
	status text NOT NULL,
	count bigint NOT NULL,
	last_slot timestamptz NOT NULL,
	CONSTRAINT notification_states_pkey PRIMARY KEY (host),
	CONSTRAINT notification_states_host_fkey FOREIGN KEY (host)
		REFERENCES state_change_params (host) ON DELETE CASCADE
) WITH (fillfactor = 50);

-- The webhook outbox.
CREATE TABLE deliveries (
	id bigint GENERATED ALWAYS AS IDENTITY,
	host text NOT NULL,
	url text NOT NULL,
	created timestamptz NOT NULL,
	next_attempt timestamptz NOT NULL,
	attempts bigint NOT NULL DEFAULT 0,
	last_error text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'pending',
	CONSTRAINT deliveries_pkey PRIMARY KEY (id),
	CONSTRAINT deliveries_host_fkey FOREIGN KEY (host) REFERENCES hosts (host) ON DELETE CASCADE,
	CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt, id) WHERE status = 'pending';
CREATE INDEX deliveries_host_idx ON deliveries (host);
CREATE INDEX deliveries_finished_idx ON deliveries (created) WHERE status <> 'pending';
