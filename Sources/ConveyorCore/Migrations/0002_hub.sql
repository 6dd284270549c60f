-- Hub (issue 5): an outbox for the Redis side effects of a committed transition, build runs, and
-- deliveries keyed by run so a restarted build notifies again, once.

-- Effects (slot release, waiting-set enqueue, cancel keys, events) written in the same transaction
-- as the state change and carried out after commit; a row left by a dead hub is swept by a live one.
CREATE TABLE hub_outbox (
    id          bigserial PRIMARY KEY,
    effects     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Incremented when a finished build is restarted: each run finishes, and notifies, once.
ALTER TABLE builds ADD COLUMN run integer NOT NULL DEFAULT 1;

ALTER TABLE deliveries ADD COLUMN run integer NOT NULL DEFAULT 1;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_kind_target_build_id_event_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_once UNIQUE (kind, target, build_id, event, run);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state = 'pending';
