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
