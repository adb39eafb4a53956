-- srvmon issue 13, history length costs nothing: daily rollups of the
-- hourly summaries, so that a fleet read of a long range reads a row per
-- host and whole UTC day rather than one per hour (a year is 365 rows,
-- not 8,760; see store.SummaryRuns). A rollup of (host, day) exists for
-- each day wholly before summary_progress.summarised_until that has an
-- hourly summary, and is the sum of the day's hourly summaries
-- (store.Summary.Merge); summaries.go says who keeps it so.
--
-- As check_summaries's since migration 0008, the key includes every
-- counter, so that a read is an index-only scan. No foreign key to
-- hosts: the store deletes a host's rollups with it.
CREATE TABLE check_summaries_daily (
	host text NOT NULL,
	day timestamp without time zone NOT NULL, -- UTC, the start of the day
	up bigint NOT NULL,
	down bigint NOT NULL,
	maintenance bigint NOT NULL,
	min_rtt bigint NOT NULL, -- of the hours with a check up; 0 when none was
	max_rtt bigint NOT NULL,
	sum_rtt bigint NOT NULL,
	CONSTRAINT check_summaries_daily_pkey PRIMARY KEY (host, day)
		INCLUDE (up, down, maintenance, min_rtt, max_rtt, sum_rtt)
);

-- The days of the summaries already there.
INSERT INTO check_summaries_daily (host, day, up, down, maintenance, min_rtt, max_rtt, sum_rtt)
SELECT s.host, date_trunc('day', s.hour), sum(s.up), sum(s.down), sum(s.maintenance),
	coalesce(min(s.min_rtt) FILTER (WHERE s.up > 0), 0), coalesce(max(s.max_rtt) FILTER (WHERE s.up > 0), 0), sum(s.sum_rtt)
FROM check_summaries s, summary_progress p
WHERE s.hour < date_trunc('day', p.summarised_until)
GROUP BY 1, 2;

-- An index-only scan skips the table only for pages that vacuum marked
-- all-visible. Summarise writes a day of every host once a day, which
-- PostgreSQL's default (a vacuum after inserts of a fifth of the table)
-- would leave unvacuumed for months of a year's table; a vacuum every
-- 1,000 inserted rows keeps the new days index-only too, and the updates
-- of late results (a day's rollup written again) are vacuumed as any
-- table's.
ALTER TABLE check_summaries_daily SET (autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);
