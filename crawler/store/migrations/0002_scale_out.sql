-- govcrawl store, schema version 2: scale-out (several `govcrawl worker` processes share one run).
-- See docs/scale.md ("Workers") for the protocol and docs/schema.md for the columns.

-- One value per lease attempt. An attempt writes seq numbers in [block << 32, (block + 1) << 32),
-- so the rows of a dead or fenced attempt can be told apart from (and deleted without touching)
-- the rows of the attempt that redid its work.
CREATE SEQUENCE run_lease_blocks;

-- The units of work of a shared run, leased to one worker at a time. Phases run in order: a lease
-- is only handed out once every lease of the earlier phases is done.
--   1 sites     crawl the sites in `sites` (every site whose hosts share a server IP: key = that IP)
--   2 plan      decide which deferred targets still need a check and insert their phase-3 leases
--   3 targets   check the URLs in `targets` (all on one server IP: key = that IP)
--   4 finalize  turn deferred edges into links/findings, fold url_state, close the run
CREATE TABLE run_leases (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    phase         smallint NOT NULL CHECK (phase BETWEEN 1 AND 4),
    key           text NOT NULL,                 -- politeness key: server IP(s), or host:<host> if unresolved
    sites         text[] NOT NULL DEFAULT '{}',  -- phase 1: site codes
    targets       jsonb NOT NULL DEFAULT '[]',   -- phase 3: [{url, site, source, text, element, on_homepage}]
    weight        integer NOT NULL DEFAULT 0,    -- sites or targets: larger leases are handed out first
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done')),
    owner         text,                          -- worker id of the current or last attempt
    attempt       integer NOT NULL DEFAULT 0,    -- the fencing token: bumped by every lease
    blocks        bigint[] NOT NULL DEFAULT '{}',  -- seq block of every attempt, oldest first
    heartbeat_at  timestamptz,
    expires_at    timestamptz,
    done_at       timestamptz,
    counts        jsonb NOT NULL DEFAULT '{}',   -- the finished attempt's crawl counters
    UNIQUE (run_id, phase, key)
);
CREATE INDEX run_leases_open ON run_leases (run_id, phase) WHERE state <> 'done';

-- Links to hosts another worker owns, kept until the run is finalized (then deleted; the not-ok
-- ones live on in `links` and `findings`). A work table: no partitions, no foreign key per row.
CREATE TABLE run_edges (
    run_id       bigint NOT NULL,
    seq          bigint NOT NULL,
    site         text NOT NULL,
    source_url   text NOT NULL,
    target_url   text NOT NULL,
    anchor_text  text NOT NULL DEFAULT '',
    element      text NOT NULL,
    on_homepage  boolean NOT NULL DEFAULT false,
    observed_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_edges_target ON run_edges (run_id, target_url);
