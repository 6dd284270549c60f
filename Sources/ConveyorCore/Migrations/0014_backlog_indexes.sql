-- Indexes for large backlogs (issue 25, bench/backlog): measured with a million job rows, 100,000 waiting.
-- An owner's active jobs: GET /api/v1/owners/{login}/queue read every waiting job of every owner
-- (jobs_active_idx is by state only) and ran its stage subquery on each: 2.7 s; the owners list counts them.
CREATE INDEX IF NOT EXISTS jobs_active_owner_idx ON jobs (owner_id, state) WHERE state IN ('created', 'queued', 'received', 'started');
-- A repository's latest builds (GET /api/v1/builds?repo=): newest first by id without walking every build.
CREATE INDEX IF NOT EXISTS builds_repository_id_idx ON builds (repository_id, id);
