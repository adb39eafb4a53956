-- Hourly summaries of each host's merged checks (store.SummarySpan), so
-- that the buckets of a long range read one row per hour rather than
-- every check: a year is 8,760 summaries and 525,600 one-minute checks.
-- See summaries.go for who writes them and how they stay exact.
--
-- No foreign key to hosts, as for checks: the store deletes a host's
-- summaries with it.
CREATE TABLE check_summaries (
	host text NOT NULL,
	hour timestamp without time zone NOT NULL, -- UTC, the start of the hour
	up bigint NOT NULL,
	down bigint NOT NULL,
	min_rtt bigint NOT NULL, -- of the checks up; 0 when none was
	max_rtt bigint NOT NULL,
	sum_rtt bigint NOT NULL,
	CONSTRAINT check_summaries_pkey PRIMARY KEY (host, hour)
);

-- How far Summarise has come: summaries exist only for hours before
-- summarised_until (NULL: none yet).
CREATE TABLE summary_progress (
	only_row boolean NOT NULL DEFAULT true,
	summarised_until timestamp without time zone,
	CONSTRAINT summary_progress_pkey PRIMARY KEY (only_row),
	CONSTRAINT summary_progress_one_row CHECK (only_row)
);
INSERT INTO summary_progress DEFAULT VALUES;
