-- The gatekeeper counts its attempts at a request and keeps the last failure, so a request that keeps
-- failing is errored with that reason instead of being retried forever (docs/runbook.md).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS last_error text;
