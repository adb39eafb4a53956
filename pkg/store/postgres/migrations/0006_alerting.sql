-- srvmon issue 12, alerting: a rule's srvmon fields, a state's, a
-- delivery's channel message, and the checker locations.
--
-- Columns with constant defaults only (a catalog change): gosrvmon's
-- inserts into state_change_params still work, and its rows read as
-- rules without srvmon's fields.

-- The JSON document of a rule's srvmon fields (channels, message,
-- recovery threshold, window, quorum, reminders, certificate expiry; see
-- pkg/store/internal/ruledoc); '' when it has none. text, as monitors'
-- settings: the store keeps what it is given.
ALTER TABLE state_change_params ADD COLUMN alerting text NOT NULL DEFAULT '';

-- A state's srvmon fields (store.State's after last_slot), as one
-- compact binary value (see pkg/store/internal/statedoc): every round
-- rewrites the state of every ruled host, and nine more columns made
-- that UPDATE of 10,000 states cost half again as much. Empty for a state
-- whose srvmon fields are all zero, as those stored before.
ALTER TABLE notification_states ADD COLUMN alerting bytea NOT NULL DEFAULT '';

-- A channel delivery: the channel URL (shoutrrr's syntax; '' for a
-- webhook GET of the action), its event and rendered text.
ALTER TABLE deliveries
	ADD COLUMN channel text NOT NULL DEFAULT '',
	ADD COLUMN event text NOT NULL DEFAULT '',
	ADD COLUMN title text NOT NULL DEFAULT '',
	ADD COLUMN message text NOT NULL DEFAULT '';

-- A claim reads the oldest pending delivery of each host and channel
-- (DISTINCT ON (host, channel) … ORDER BY host, channel, created, id):
-- this index gives them in that order, pending ones only.
CREATE INDEX deliveries_queue_idx ON deliveries (host, channel, created, id) WHERE status = 'pending';

-- The checker locations that saved results, with the newest slot each
-- saved ('' is the default location). Rounds raise it; it never goes
-- back.
CREATE TABLE locations (
	name text COLLATE "C" NOT NULL,
	last_slot timestamptz NOT NULL,
	CONSTRAINT locations_pkey PRIMARY KEY (name)
);
