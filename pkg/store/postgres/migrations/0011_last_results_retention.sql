-- srvmon issue 14, stored data is never lost: last_results kept exact
-- when a result older than a location's row is stored while retention
-- (or any statement) deletes that row's result.
--
-- 0010's trigger gave a deleted row's pair its newest older result in
-- the statement that deleted the row, whose snapshot is the one the
-- delete of checks began with. A late result of the pair (older than its
-- row: the row stays, but its insert locks it) stored by a transaction
-- still open when retention's delete of checks began is not seen by that
-- delete, so it is kept; retention's trigger waits for the row the late
-- result's statement locked, deletes it once that commits, and then
-- looked in its old snapshot for the pair's newest result: it did not
-- see the late one, and left the pair without a row while checks held a
-- result of it.
--
-- The trigger now deletes the rows in one statement and gives each pair
-- whose row went its newest older result in a statement of its own,
-- whose snapshot is taken after the delete: it sees every result
-- committed while the delete waited. A late result committed after it is the
-- inserting statement's to add: that one waits for the deleted row (or
-- its replacement) and then inserts or updates it, as it always did.
-- Only the deleting branch changes; the trigger's function is replaced
-- in place (the triggers call it by name).
CREATE OR REPLACE FUNCTION last_results_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
	few boolean;
	gone_hosts text[];
	gone_locations text[];
	gone_times timestamp without time zone[];
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		-- The pairs whose row goes: a row that another transaction's
		-- statement holds is waited for, and deleted only if its
		-- check_time is still the deleted result's.
		WITH gone AS (
			DELETE FROM last_results l USING old_rows o
			WHERE l.host = o.host COLLATE "C" AND l.location = o.location AND l.check_time = o.check_time
			RETURNING o.host, o.location, o.check_time
		)
		SELECT array_agg(g.host), array_agg(g.location), array_agg(g.check_time) INTO gone_hosts, gone_locations, gone_times
		FROM gone g;
		-- Each pair's newest older result, as before, in a statement of
		-- its own: its snapshot, taken now, sees what committed while the
		-- delete waited (a result newer than the row would have replaced
		-- it, and the delete would have left it). Each pair once, in key
		-- order (see below).
		IF gone_hosts IS NOT NULL THEN
			INSERT INTO last_results AS l (host, location, check_time, rtt, up, reason, maintenance)
			SELECT c.host, c.location, c.check_time, c.rtt, c.up, c.reason, c.maintenance
			FROM unnest(gone_hosts, gone_locations, gone_times) AS g (host, location, check_time)
			CROSS JOIN LATERAL (
				SELECT * FROM checks c
				WHERE c.host = g.host AND c.check_time < g.check_time AND c.location = g.location
				ORDER BY c.check_time DESC
				LIMIT 1
			) c
			ORDER BY c.host COLLATE "C", c.location
			ON CONFLICT (host, location) DO UPDATE
			SET check_time = excluded.check_time, rtt = excluded.rtt, up = excluded.up, reason = excluded.reason,
				maintenance = excluded.maintenance
			WHERE l.check_time < excluded.check_time;
		END IF;
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
