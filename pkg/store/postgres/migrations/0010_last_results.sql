-- srvmon issue 13, the fleet's pages: last_results holds, for each
-- stored host and location, that location's newest result (the row of
-- checks with the greatest check_time of the pair), so that the last
-- checks of every host (LastChecks: the dashboard, /metrics, the status
-- page) are one scan of a table of hosts × locations rows, where they
-- were a backward index descent of checks per host, plus a probe of
-- checks_maintenance_idx (about 210 ms for 10,000 hosts, more when the
-- index is not cached). A host's last check is its rows whose check_time
-- is the host's greatest, merged as ever: a result of the host's newest
-- slot is its location's newest, so that every one of them is here.
--
-- host is COLLATE "C", so that the key's index gives the rows in the
-- order the fleet's reads want them (byte order, as Go compares
-- strings); its comparisons with checks's and hosts's host name the
-- collation. Rounds replace the rows in place: the free space left in
-- each page lets the new versions stay on their page (HOT updates: no
-- column of the key changes, so no index entry is written).
--
-- Its rows are of stored hosts only (the foreign key), so that a read
-- needs no join with hosts, which cost five times the scan: checks has
-- none (see 0002), and gosrvmon, which still works on the upgraded
-- tables, may store results of a host that it deleted. Deleting a host
-- deletes its rows; adding one brings the rows of any results it has
-- (see last_results_host_added). Rows are only added for a pair seen
-- first: the foreign key is checked then, never by a round's updates.
CREATE TABLE last_results (
	host text COLLATE "C" NOT NULL,
	location text COLLATE "C" NOT NULL,
	check_time timestamp without time zone NOT NULL,
	rtt bigint NOT NULL,
	up boolean NOT NULL,
	reason text NOT NULL,
	maintenance boolean NOT NULL,
	CONSTRAINT last_results_pkey PRIMARY KEY (host, location),
	CONSTRAINT last_results_host_fkey FOREIGN KEY (host) REFERENCES hosts (host) ON DELETE CASCADE
) WITH (fillfactor = 50);

-- The table is kept by triggers on checks, in the statement that changes
-- checks: every writer keeps it exact without knowing of it, srvmon's
-- (rounds, restores, retention, deleting a host, whichever statement
-- each uses) as well as gosrvmon's own inserts and deletes, which still
-- work on the upgraded tables, and any statement typed by hand. Each
-- trigger runs once a statement, on its rows (transition tables):
--   - inserted rows of stored hosts replace a pair's row only when newer
--     (a check_time equal to the row's is the row's own result: checks
--     keeps one result a (host, check_time, location), the first stored);
--   - a deleted row that is its pair's row gives way to the pair's
--     newest older result, when there is one (retention, which deletes
--     a host's oldest results first, finds none at once);
--   - an updated row is a deleted one and an inserted one;
--   - TRUNCATE empties the table.
-- search_path is the one the migration runs with: the triggers find the
-- tables of their schema whatever the writer's search_path.
CREATE FUNCTION last_results_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
	few boolean;
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		WITH gone AS (
			DELETE FROM last_results l USING old_rows o
			WHERE l.host = o.host COLLATE "C" AND l.location = o.location AND l.check_time = o.check_time
			RETURNING o.host, o.location, o.check_time
		)
		INSERT INTO last_results (host, location, check_time, rtt, up, reason, maintenance)
		SELECT c.host, c.location, c.check_time, c.rtt, c.up, c.reason, c.maintenance
		FROM gone g
		CROSS JOIN LATERAL (
			SELECT * FROM checks c
			WHERE c.host = g.host AND c.check_time < g.check_time AND c.location = g.location
			ORDER BY c.check_time DESC
			LIMIT 1
		) c;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		-- Each pair's newest row, in key order, so that statements that
		-- overlap lock the rows in one order and cannot deadlock. A
		-- round's statement holds a row of each of many pairs: their
		-- rows sorted, the newest of each is the first. A restore's
		-- (restoreBatch rows) holds many rows of each of a few pairs,
		-- where sorting them all cost as much as inserting them: the
		-- newest check_time of each pair is found in a hash table, then
		-- its row.
		SELECT count(*) < 100 INTO few FROM (SELECT FROM new_rows GROUP BY host, location LIMIT 100) p;
		IF few THEN
			INSERT INTO last_results AS l (host, location, check_time, rtt, up, reason, maintenance)
			SELECT n.host, n.location, n.check_time, n.rtt, n.up, n.reason, n.maintenance
			FROM (SELECT host, location, max(check_time) AS check_time FROM new_rows GROUP BY host, location) m
			JOIN new_rows n ON n.host = m.host AND n.location = m.location AND n.check_time = m.check_time
			WHERE EXISTS (SELECT FROM hosts h WHERE h.host = m.host)
			ORDER BY n.host COLLATE "C", n.location
			ON CONFLICT (host, location) DO UPDATE
			SET check_time = excluded.check_time, rtt = excluded.rtt, up = excluded.up, reason = excluded.reason,
				maintenance = excluded.maintenance
			WHERE l.check_time < excluded.check_time;
		ELSE
			INSERT INTO last_results AS l (host, location, check_time, rtt, up, reason, maintenance)
			SELECT DISTINCT ON (n.host COLLATE "C", n.location) n.host, n.location, n.check_time, n.rtt, n.up, n.reason, n.maintenance
			FROM new_rows n
			WHERE EXISTS (SELECT FROM hosts h WHERE h.host = n.host)
			ORDER BY n.host COLLATE "C", n.location, n.check_time DESC
			ON CONFLICT (host, location) DO UPDATE
			SET check_time = excluded.check_time, rtt = excluded.rtt, up = excluded.up, reason = excluded.reason,
				maintenance = excluded.maintenance
			WHERE l.check_time < excluded.check_time;
		END IF;
	END IF;
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE last_results;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER checks_last_results_insert AFTER INSERT ON checks
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION last_results_keep();
CREATE TRIGGER checks_last_results_update AFTER UPDATE ON checks
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION last_results_keep();
CREATE TRIGGER checks_last_results_delete AFTER DELETE ON checks
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION last_results_keep();
CREATE TRIGGER checks_last_results_truncate AFTER TRUNCATE ON checks
	FOR EACH STATEMENT EXECUTE FUNCTION last_results_keep();

-- A host added brings the rows of the results it has, which only a
-- result of a host that was not stored can be (see above): for a new
-- host, a probe of checks's key that finds nothing.
CREATE FUNCTION last_results_host_added() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	INSERT INTO last_results (host, location, check_time, rtt, up, reason, maintenance)
	SELECT c.host, c.location, c.check_time, c.rtt, c.up, c.reason, c.maintenance
	FROM new_hosts h
	CROSS JOIN LATERAL (
		SELECT DISTINCT ON (c.location) * FROM checks c WHERE c.host = h.host ORDER BY c.location, c.check_time DESC
	) c;
	RETURN NULL;
END
$$;

CREATE TRIGGER hosts_last_results_insert AFTER INSERT ON hosts
	REFERENCING NEW TABLE AS new_hosts FOR EACH STATEMENT EXECUTE FUNCTION last_results_host_added();

-- The rows of what is stored already (a gosrvmon database too: its
-- results are all of location ''), in one pass over checks: each pair's
-- newest check_time, aggregated in a hash table of hosts × locations
-- entries (never a sort of checks), then its row through the key.
INSERT INTO last_results (host, location, check_time, rtt, up, reason, maintenance)
SELECT c.host, c.location, c.check_time, c.rtt, c.up, c.reason, c.maintenance
FROM (SELECT host, location, max(check_time) AS check_time FROM checks GROUP BY host, location) n
JOIN checks c ON c.host = n.host AND c.check_time = n.check_time AND c.location = n.location
WHERE EXISTS (SELECT FROM hosts h WHERE h.host = n.host);
