-- Conveyor's first schema (docs/architecture.md §5). Postgres is authoritative; Redis holds only what is in flight.
CREATE TABLE owners (
    id                bigserial PRIMARY KEY,
    login             text NOT NULL UNIQUE,
    concurrency_limit integer CHECK (concurrency_limit IS NULL OR concurrency_limit >= 0),
    queue_limits      jsonb NOT NULL DEFAULT '{}'::jsonb,      -- {"osx": 1}: per-queue limits (Travis's by_queue)
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE repositories (
    id                         bigserial PRIMARY KEY,
    owner_id                   bigint NOT NULL REFERENCES owners(id),
    slug                       text NOT NULL UNIQUE,           -- owner/name
    url                        text NOT NULL,                  -- git remote the gatekeeper and workers fetch from
    webhook_secret             text,
    max_concurrent_jobs        integer CHECK (max_concurrent_jobs IS NULL OR max_concurrent_jobs >= 0),
    hard_timeout_seconds       integer,
    no_output_timeout_seconds  integer,
    max_log_bytes              bigint,
    settings                   jsonb NOT NULL DEFAULT '{}'::jsonb, -- {"webhooks": ["http://…"], "webhook_secret": "…"}
    created_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE requests (
    id               bigserial PRIMARY KEY,
    repository_id    bigint NOT NULL REFERENCES repositories(id),
    event_type       text NOT NULL,                        -- push | pull_request | api | cron
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    branch           text NOT NULL,
    sha              text NOT NULL,
    tag              text,
    commit_message   text NOT NULL DEFAULT '',
    sender           text,
    pull_request     integer,
    config_override  text,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','accepted','rejected','skipped','errored')),
    result_message   text,
    warnings         jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    processed_at     timestamptz
);

CREATE TABLE builds (
    id              bigserial PRIMARY KEY,
    repository_id   bigint NOT NULL REFERENCES repositories(id),
    request_id      bigint NOT NULL UNIQUE REFERENCES requests(id),   -- one build per request: gatekeeper idempotency
    number          integer NOT NULL,
    state           text NOT NULL DEFAULT 'created',
    event_type      text NOT NULL,
    branch          text NOT NULL,
    sha             text NOT NULL,
    tag             text,
    commit_message  text NOT NULL DEFAULT '',
    config          jsonb NOT NULL,
    fast_finish     boolean NOT NULL DEFAULT false,
    stages          jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    UNIQUE (repository_id, number)
);

CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    build_id         bigint NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    repository_id    bigint NOT NULL REFERENCES repositories(id),
    owner_id         bigint NOT NULL REFERENCES owners(id),
    number           text NOT NULL,                         -- "12.3"
    position         integer NOT NULL,
    stage            text,
    stage_index      integer NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'created',
    attempt          integer NOT NULL DEFAULT 1,
    last_seq         integer NOT NULL DEFAULT 0,
    queue            text NOT NULL,
    allow_failure    boolean NOT NULL DEFAULT false,
    priority         integer NOT NULL DEFAULT 0,
    config           jsonb NOT NULL,                        -- the JobSpec
    worker           text,
    finished_reason  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    queued_at        timestamptz,
    received_at      timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (build_id, position)
);
CREATE INDEX jobs_build_idx ON jobs (build_id);
CREATE INDEX jobs_active_idx ON jobs (state) WHERE state IN ('created', 'queued', 'received', 'started');

CREATE TABLE job_events (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    seq         integer NOT NULL,
    kind        text NOT NULL,
    applied     boolean NOT NULL,
    note        text,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job_idx ON job_events (job_id, id);

CREATE TABLE log_parts (
    job_id      bigint NOT NULL,
    attempt     integer NOT NULL,
    number      integer NOT NULL,
    content     bytea NOT NULL,
    final       boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt, number)
);

CREATE TABLE logs (
    job_id            bigint NOT NULL,
    attempt           integer NOT NULL,
    content           bytea,
    byte_size         bigint NOT NULL DEFAULT 0,
    parts             integer NOT NULL DEFAULT 0,
    aggregated_at     timestamptz,
    archive_key       text,
    archived_at       timestamptz,
    archive_verified  boolean NOT NULL DEFAULT false,
    purged_at         timestamptz,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,                     -- webhook | commit_status
    target           text NOT NULL,
    event            text NOT NULL,                     -- build:created, build:finished …
    build_id         bigint NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (kind, target, build_id, event)
);
