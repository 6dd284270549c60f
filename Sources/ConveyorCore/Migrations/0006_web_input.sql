-- Public and private repositories (docs/api.md#authentication): builds, jobs and logs of a private
-- repository are readable only with the API token. Set from a webhook's repository.private, and by
-- PATCH /api/v1/repos/{owner}/{repo}.
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS private boolean NOT NULL DEFAULT false;

-- GitHub delivery ids (X-GitHub-Delivery) of webhooks that created a request: a redelivery of one
-- of them is answered "duplicate delivery" and builds nothing. Rows older than the retention
-- (GitHub redelivers for a few days) are deleted by the web role (docs/api.md#webhooks).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id           text PRIMARY KEY,
    event        text NOT NULL,
    request_id   bigint REFERENCES requests(id) ON DELETE SET NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_received_at ON webhook_deliveries (received_at);
