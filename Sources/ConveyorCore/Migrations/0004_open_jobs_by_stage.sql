-- Open jobs of a build by stage: the scheduler's sweep asks, for each job still `created`, whether an
-- earlier stage of its build is still open; the hub's stage logic reads the same. Partial, so it
-- stays small however many finished jobs the table holds.
CREATE INDEX jobs_open_by_stage_idx ON jobs (build_id, stage_index) WHERE state IN ('created', 'queued', 'received', 'started');
