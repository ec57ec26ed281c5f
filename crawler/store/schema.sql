-- govcrawl store, schema version 1 (the baseline).
--
-- Applied by crawler.store.admin.migrate(): once, in one transaction, recorded in schema_version.
-- After the first release this file is frozen; every later change is a numbered file in
-- crawler/store/migrations/ (0002_*.sql, ...), so an existing database is brought forward by
-- exactly the statements a fresh one gets. docs/schema.md documents every object here.

-- --------------------------------------------------------------------------- registry and runs

CREATE TABLE sites (
    code        text PRIMARY KEY,               -- 网站标识码 (SiteIDCode)
    name        text NOT NULL,
    homepage    text NOT NULL,
    organizer   text NOT NULL DEFAULT '',
    kind        text NOT NULL DEFAULT '',
    region      text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL
);

CREATE TABLE runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('nightly', 'probe', 'adhoc')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    settings      jsonb NOT NULL DEFAULT '{}',
    counts        jsonb NOT NULL DEFAULT '{}',
    worker        text NOT NULL DEFAULT '',     -- host:pid of the writing process
    heartbeat_at  timestamptz NOT NULL DEFAULT now()  -- lets a crashed run be told from a slow one
);
CREATE INDEX runs_kind_started ON runs (kind, started_at DESC);
CREATE INDEX runs_running ON runs (heartbeat_at) WHERE status = 'running';

-- Which sites a run covered (from the SiteRecords it wrote). Views compare a site's run with
-- the previous run that covered the same site, so sharded or partial runs compare correctly.
CREATE TABLE run_sites (
    run_id  bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    site    text NOT NULL,
    PRIMARY KEY (run_id, site)
);
CREATE INDEX run_sites_site ON run_sites (site, run_id DESC);

-- --------------------------------------------------------------------------- time series
-- Partitioned by observed_at (monthly, UTC). Partitions are made ahead of time by migrate() and
-- by the writer for every month it is about to write; the DEFAULT partition only catches rows
-- nobody prepared for. No foreign keys to runs: checking one per row would cost write speed.
-- The primary key (run_id, seq, observed_at) makes every write idempotent.

CREATE TABLE fetches (
    run_id          bigint NOT NULL,
    seq             bigint NOT NULL,
    site            text NOT NULL,
    kind            text NOT NULL,              -- page / target / robots / calibration / probe
    url             text NOT NULL,
    final_url       text NOT NULL,
    redirect_chain  text[] NOT NULL DEFAULT '{}',
    method          text NOT NULL,
    status          smallint,                   -- NULL: no HTTP response
    verdict         text NOT NULL,              -- ok / broken / unverified
    reason          text,                       -- crawler.types.Reason
    detail          text NOT NULL DEFAULT '',
    dns_ms          real,
    connect_ms      real,
    first_byte_ms   real,
    total_ms        real,
    bytes           bigint NOT NULL DEFAULT 0,
    truncated       boolean NOT NULL DEFAULT false,
    content_type    text NOT NULL DEFAULT '',
    content_hash    text,
    etag            text,
    last_modified   text,
    attempts        smallint NOT NULL DEFAULT 1,
    depth           integer,
    started_at      timestamptz NOT NULL,
    observed_at     timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX fetches_site_observed ON fetches (site, observed_at);
CREATE TABLE fetches_default PARTITION OF fetches DEFAULT;

-- By default the crawler sends only edges whose target is not ok (see docs/schema.md).
CREATE TABLE links (
    run_id       bigint NOT NULL,
    seq          bigint NOT NULL,
    site         text NOT NULL,
    source_url   text NOT NULL,
    target_url   text NOT NULL,
    anchor_text  text NOT NULL DEFAULT '',
    element      text NOT NULL,
    on_homepage  boolean NOT NULL DEFAULT false,
    verdict      text NOT NULL,
    reason       text,
    observed_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX links_run_target ON links (run_id, target_url) WHERE verdict <> 'ok';
CREATE TABLE links_default PARTITION OF links DEFAULT;

CREATE TABLE findings (
    run_id       bigint NOT NULL,
    seq          bigint NOT NULL,
    site         text NOT NULL,
    "check"      text NOT NULL,                 -- stable code, see docs/schema.md
    severity     text NOT NULL CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    url          text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}',
    observed_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX findings_run_site ON findings (run_id, site);
CREATE INDEX findings_check_observed ON findings ("check", observed_at);
CREATE TABLE findings_default PARTITION OF findings DEFAULT;

-- Reserved for the column-freshness feature.
CREATE TABLE column_observations (
    run_id       bigint NOT NULL,
    seq          bigint NOT NULL,
    site         text NOT NULL,
    column_url   text NOT NULL,
    name         text NOT NULL DEFAULT '',
    class        text NOT NULL DEFAULT '',
    newest_date  date,
    newest_url   text,
    item_count   integer NOT NULL DEFAULT 0,
    date_source  text NOT NULL DEFAULT '',
    observed_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX column_observations_site ON column_observations (site, column_url, observed_at);
CREATE TABLE column_observations_default PARTITION OF column_observations DEFAULT;

-- Availability probes: a slim copy of every FetchRecord of kind 'probe' (kept longer than fetches).
CREATE TABLE probes (
    run_id       bigint NOT NULL,
    seq          bigint NOT NULL,
    site         text NOT NULL,
    url          text NOT NULL,
    observed_at  timestamptz NOT NULL,
    ok           boolean NOT NULL,
    status       smallint,
    reason       text,
    total_ms     real,
    PRIMARY KEY (run_id, seq, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX probes_site_observed ON probes (site, observed_at);
CREATE TABLE probes_default PARTITION OF probes DEFAULT;

-- --------------------------------------------------------------------------- current state

-- One row per (site, url) the crawler fetched as a page or target: the state as of the newest
-- fetch. Folded in from a run's fetches by govcrawl_refresh_url_state(run_id), which the writer
-- calls when the run closes (and admin.mark_stale_runs for runs whose writer crashed).
CREATE TABLE url_state (
    site              text NOT NULL,
    url               text NOT NULL,
    last_status       smallint,
    last_verdict      text NOT NULL,
    last_reason       text,
    last_checked_run  bigint NOT NULL,
    last_checked_at   timestamptz NOT NULL,
    last_change_at    timestamptz NOT NULL,     -- when status or verdict last changed
    first_broken_at   timestamptz,              -- start of the current broken streak; NULL if not broken
    fixed_at          timestamptz,              -- when it last went from broken to not broken
    etag              text,
    last_modified     text,
    PRIMARY KEY (site, url)
);
CREATE INDEX url_state_broken ON url_state (site) WHERE last_verdict = 'broken';

-- Folds one run's page/target fetches into url_state; returns the rows inserted or changed.
-- Idempotent and order-safe: the WHERE keeps an older run from moving a URL's state backwards,
-- and applying the same run twice leaves every column as it was.
CREATE FUNCTION govcrawl_refresh_url_state(p_run bigint) RETURNS bigint
LANGUAGE sql AS $$
WITH changed AS (
    INSERT INTO url_state AS s (site, url, last_status, last_verdict, last_reason, last_checked_run,
                                last_checked_at, last_change_at, first_broken_at, fixed_at, etag, last_modified)
    SELECT DISTINCT ON (site, url) site, url, status, verdict, reason, run_id, observed_at, observed_at,
           CASE WHEN verdict = 'broken' THEN observed_at END, NULL, etag, last_modified
    FROM fetches
    WHERE run_id = p_run AND kind IN ('page', 'target')
    ORDER BY site, url, observed_at DESC, seq DESC
    ON CONFLICT (site, url) DO UPDATE SET
        last_status = EXCLUDED.last_status,
        last_verdict = EXCLUDED.last_verdict,
        last_reason = EXCLUDED.last_reason,
        last_checked_run = EXCLUDED.last_checked_run,
        last_checked_at = EXCLUDED.last_checked_at,
        last_change_at = CASE
            WHEN (s.last_verdict, s.last_status) IS NOT DISTINCT FROM (EXCLUDED.last_verdict, EXCLUDED.last_status)
            THEN s.last_change_at ELSE EXCLUDED.last_checked_at END,
        -- 'unverified' (timeout, robots, ...) says nothing about a broken streak: keep it as it is.
        first_broken_at = CASE EXCLUDED.last_verdict
            WHEN 'ok' THEN NULL
            WHEN 'broken' THEN coalesce(s.first_broken_at, EXCLUDED.last_checked_at)
            ELSE s.first_broken_at END,
        fixed_at = CASE WHEN EXCLUDED.last_verdict = 'ok' AND s.first_broken_at IS NOT NULL
            THEN EXCLUDED.last_checked_at ELSE s.fixed_at END,
        -- A 304 answer may omit the validators; it still means the stored ones are current.
        etag = CASE WHEN EXCLUDED.last_status = 304
            THEN coalesce(EXCLUDED.etag, s.etag) ELSE EXCLUDED.etag END,
        last_modified = CASE WHEN EXCLUDED.last_status = 304
            THEN coalesce(EXCLUDED.last_modified, s.last_modified) ELSE EXCLUDED.last_modified END
    WHERE EXCLUDED.last_checked_at >= s.last_checked_at
    RETURNING 1
)
SELECT count(*) FROM changed
$$;

-- --------------------------------------------------------------------------- partition upkeep

-- Creates the monthly partitions covering [lo, hi] for every time-series table. Safe to call
-- concurrently and repeatedly. A month whose rows already sit in the DEFAULT partition is
-- skipped (those rows stay there) instead of failing the caller.
CREATE FUNCTION govcrawl_ensure_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month   timestamptz := date_trunc('month', lo AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    tbl     text;
    part    text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govcrawl_partitions'));
    WHILE month <= hi LOOP
        FOREACH tbl IN ARRAY ARRAY['fetches', 'links', 'findings', 'column_observations', 'probes'] LOOP
            part := format('%s_p%s', tbl, to_char(month AT TIME ZONE 'UTC', 'YYYY_MM'));
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, tbl, month, month + interval '1 month');
                created := created + 1;
            EXCEPTION WHEN check_violation THEN
                RAISE WARNING 'govcrawl: % has rows for %, left them there', tbl || '_default', part;
            END;
        END LOOP;
        month := month + interval '1 month';
    END LOOP;
    RETURN created;
END $$;

-- Drops whole range partitions whose upper bound is at or before `before`; returns their names.
CREATE FUNCTION govcrawl_drop_partitions(before timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('govcrawl_partitions'));
    FOR r IN
        SELECT c.oid::regclass::text AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('fetches'::regclass, 'links'::regclass, 'findings'::regclass,
                              'column_observations'::regclass, 'probes'::regclass)
        ORDER BY 1
    LOOP
        CONTINUE WHEN r.upper IS NULL OR r.upper > before;   -- NULL: the DEFAULT partition
        EXECUTE format('DROP TABLE %s', r.name);
        RETURN NEXT r.name;
    END LOOP;
END $$;

-- --------------------------------------------------------------------------- views

-- The latest run of each kind that covered each site.
CREATE VIEW latest_runs AS
SELECT DISTINCT ON (rs.site, r.kind)
       rs.site, r.kind, r.id AS run_id, r.status, r.started_at, r.ended_at
FROM run_sites rs
JOIN runs r ON r.id = rs.run_id
ORDER BY rs.site, r.kind, r.started_at DESC, r.id DESC;

-- For every (run, site): the previous finished run of the same kind that covered the site.
-- "Finished" means succeeded or interrupted; a failed run's partial results are not a baseline.
CREATE VIEW run_site_previous AS
SELECT rs.run_id, rs.site, r.kind, prev.run_id AS prev_run_id
FROM run_sites rs
JOIN runs r ON r.id = rs.run_id
LEFT JOIN LATERAL (
    SELECT p.id AS run_id
    FROM run_sites ps
    JOIN runs p ON p.id = ps.run_id
    WHERE ps.site = rs.site AND p.kind = r.kind AND p.started_at < r.started_at
      AND p.status IN ('succeeded', 'interrupted')
    ORDER BY p.started_at DESC, p.id DESC
    LIMIT 1
) prev ON true;

-- Broken link targets as of each site's latest finished nightly run, one row per target.
CREATE VIEW current_broken_links AS
WITH latest AS (
    SELECT DISTINCT ON (rs.site) rs.site, r.id AS run_id, r.started_at
    FROM run_sites rs
    JOIN runs r ON r.id = rs.run_id
    WHERE r.kind = 'nightly' AND r.status IN ('succeeded', 'interrupted')
    ORDER BY rs.site, r.started_at DESC, r.id DESC
)
SELECT l.site, l.run_id, l.target_url,
       min(l.reason) AS reason,
       array_agg(DISTINCT l.source_url ORDER BY l.source_url) AS referring_pages,
       bool_or(l.on_homepage) AS on_homepage,
       max(l.observed_at) AS observed_at
FROM latest
JOIN links l ON l.run_id = latest.run_id AND l.site = latest.site
WHERE l.verdict = 'broken'
GROUP BY l.site, l.run_id, l.target_url;

-- Per site per run: findings counted by check code and by severity ({} when the run found nothing).
CREATE VIEW site_scorecard AS
SELECT rs.run_id, rs.site, r.kind, r.started_at,
       COALESCE(c.by_check, '{}') AS by_check,
       COALESCE(c.by_severity, '{}') AS by_severity,
       COALESCE(c.total, 0) AS total
FROM run_sites rs
JOIN runs r ON r.id = rs.run_id
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(x.check, x.n) AS by_check,
           (SELECT jsonb_object_agg(s.severity, s.n)
            FROM (SELECT f.severity, count(*) AS n FROM findings f
                  WHERE f.run_id = rs.run_id AND f.site = rs.site GROUP BY f.severity) s) AS by_severity,
           sum(x.n)::bigint AS total
    FROM (SELECT f."check" AS check, count(*) AS n FROM findings f
          WHERE f.run_id = rs.run_id AND f.site = rs.site GROUP BY f."check") x
) c ON true;

-- Per run and site: findings that are new against the previous run of the same kind, and
-- findings of the previous run that are gone (fixed). Identity: (site, check, url, detail->>'target').
CREATE VIEW run_changes AS
SELECT p.run_id, p.prev_run_id, f.site, 'new'::text AS change, f."check", f.severity, f.url,
       f.detail ->> 'target' AS target, f.detail
FROM run_site_previous p
JOIN findings f ON f.run_id = p.run_id AND f.site = p.site
WHERE NOT EXISTS (
    SELECT 1 FROM findings g
    WHERE g.run_id = p.prev_run_id AND g.site = f.site AND g."check" = f."check" AND g.url = f.url
      AND (g.detail ->> 'target') IS NOT DISTINCT FROM (f.detail ->> 'target'))
UNION ALL
SELECT p.run_id, p.prev_run_id, g.site, 'fixed'::text AS change, g."check", g.severity, g.url,
       g.detail ->> 'target' AS target, g.detail
FROM run_site_previous p
JOIN findings g ON g.run_id = p.prev_run_id AND g.site = p.site
WHERE NOT EXISTS (
    SELECT 1 FROM findings f
    WHERE f.run_id = p.run_id AND f.site = g.site AND f."check" = g."check" AND f.url = g.url
      AND (f.detail ->> 'target') IS NOT DISTINCT FROM (g.detail ->> 'target'));
