-- srvmon issue 11: every host is a monitor with optional settings, and
-- checks learn facts about hosts (a certificate's expiry, the last push).
--
-- New tables only: gosrvmon's tables are untouched, so an upgraded
-- gosrvmon database still works for gosrvmon, and a gosrvmon host reads
-- as a monitor without settings (it has no row here).

-- A host's settings and source, one JSON document (settings, see
-- pkg/store/internal/settingsdoc), so that a later setting needs no
-- schema change. text, not jsonb: the store keeps what it is given, and
-- jsonb refuses a "\u0000" that a body or a header may hold. A host
-- without settings has no row. push_token (NULL for none) is the index
-- of push URLs, unique across hosts.
CREATE TABLE monitors (
	host text NOT NULL,
	settings text NOT NULL,
	push_token text,
	CONSTRAINT monitors_pkey PRIMARY KEY (host),
	CONSTRAINT monitors_host_fkey FOREIGN KEY (host) REFERENCES hosts (host) ON DELETE CASCADE,
	CONSTRAINT monitors_push_token_key UNIQUE (push_token)
);

-- What checks learnt about a host (store.Facts); NULL when unknown.
-- SaveRound rewrites a row only when the expiry changed.
CREATE TABLE host_facts (
	host text NOT NULL,
	cert_expiry timestamptz,
	last_push timestamptz,
	CONSTRAINT host_facts_pkey PRIMARY KEY (host),
	CONSTRAINT host_facts_host_fkey FOREIGN KEY (host) REFERENCES hosts (host) ON DELETE CASCADE
);
