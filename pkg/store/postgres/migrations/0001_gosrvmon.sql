-- gosrvmon's schema, as its init.sql (and its -init flag) created it.
-- IF NOT EXISTS: a database that gosrvmon created keeps its tables and
-- data, and 0002 upgrades them in place. gosrvmon's BRIN indexes are not
-- created here; 0002 drops them where they exist.
CREATE TABLE IF NOT EXISTS hosts (
	host text NOT NULL,
	CONSTRAINT hosts_host_pkey PRIMARY KEY (host)
);

CREATE TABLE IF NOT EXISTS checks (
	host text NOT NULL,
	check_time timestamp without time zone NOT NULL, -- UTC
	rtt bigint NOT NULL,                              -- nanoseconds
	up boolean NOT NULL,
	CONSTRAINT checks_pkey PRIMARY KEY (host, check_time),
	CONSTRAINT checks_host_fkey FOREIGN KEY (host)
		REFERENCES hosts (host) MATCH SIMPLE ON UPDATE NO ACTION ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS state_change_params (
	host text NOT NULL,
	change_threshold bigint NOT NULL,
	action text NOT NULL,
	CONSTRAINT state_change_params_pkey PRIMARY KEY (host),
	CONSTRAINT state_change_params_host_fkey FOREIGN KEY (host)
		REFERENCES hosts (host) MATCH SIMPLE ON UPDATE NO ACTION ON DELETE CASCADE
);

-- gosrvmon has had two schemas. The first keys everything by the host
-- name, with rules in state_change_params: the tables above. The second
-- (2021) gives hosts an id, which checks and notifications_params refer
-- to: it is turned into the first here, by host name, keeping every row,
-- so that what follows has one schema to upgrade.
DO $$
BEGIN
	IF EXISTS (SELECT FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'checks'
			AND column_name = 'host' AND data_type = 'integer') THEN
		CREATE TABLE checks_by_name (
			host text NOT NULL,
			check_time timestamp without time zone NOT NULL,
			rtt bigint NOT NULL,
			up boolean NOT NULL
		);
		INSERT INTO checks_by_name (host, check_time, rtt, up)
			SELECT h.host, c.check_time, c.rtt, c.up FROM checks c JOIN hosts h ON h.id = c.host;
		DROP TABLE checks;
		ALTER TABLE checks_by_name RENAME TO checks;
		-- Its key; its foreign key would be dropped by 0002 again.
		ALTER TABLE checks ADD CONSTRAINT checks_pkey PRIMARY KEY (host, check_time);
	END IF;
	IF to_regclass('notifications_params') IS NOT NULL THEN
		IF EXISTS (SELECT FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'notifications_params'
				AND column_name = 'host' AND data_type = 'integer') THEN
			INSERT INTO state_change_params (host, change_threshold, action)
				SELECT h.host, n.change_threshold, n.action FROM notifications_params n JOIN hosts h ON h.id = n.host
				ON CONFLICT (host) DO NOTHING;
		ELSE
			INSERT INTO state_change_params (host, change_threshold, action)
				SELECT n.host, n.change_threshold, n.action FROM notifications_params n JOIN hosts h ON h.host = n.host
				ON CONFLICT (host) DO NOTHING;
		END IF;
		DROP TABLE notifications_params;
	END IF;
	IF EXISTS (SELECT FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'hosts' AND column_name = 'id') THEN
		ALTER TABLE hosts DROP COLUMN id;
	END IF;
END
$$;
