-- Travis compatibility (docs/config.md): auto-cancellation settings, on by default as in Travis.
-- auto_cancel_running_jobs also cancels the running jobs of a superseded build (off by default).
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS auto_cancel_pushes boolean NOT NULL DEFAULT true;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS auto_cancel_pull_requests boolean NOT NULL DEFAULT true;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS auto_cancel_running_jobs boolean NOT NULL DEFAULT false;
-- The open builds of a branch, found when a newer one supersedes them.
CREATE INDEX IF NOT EXISTS builds_open_branch_idx ON builds (repository_id, branch) WHERE finished_at IS NULL;
