-- Cron builds (issue 22; docs/cron.md).

-- One cron per (repository, branch), as on Travis. `next_run_at` is the due time a runner locks the
-- row with: exactly one node builds it, and moves it on.
CREATE TABLE crons (
    id                              bigserial PRIMARY KEY,
    repository_id                   bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    branch                          text NOT NULL,
    interval                        text NOT NULL CHECK (interval IN ('daily', 'weekly', 'monthly')),
    dont_run_if_recent_build_exists boolean NOT NULL DEFAULT false,
    next_run_at                     timestamptz NOT NULL,
    last_run_at                     timestamptz,
    last_request_id                 bigint,
    last_outcome                    text,      -- requested | skipped: recent build | error: …
    created_at                      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, branch)
);
CREATE INDEX crons_due_idx ON crons (next_run_at);
