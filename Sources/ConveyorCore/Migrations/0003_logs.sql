-- Logs role (issue 6). A `logs` row is created with a log's first part and tracks it through
-- ingest, aggregation, archive and purge.
ALTER TABLE logs
    -- Boundaries of the aggregated content: part_numbers[i] starts at byte part_offsets[i] of
    -- `content` (0-based), in number order. A late part is merged between its neighbours, and a
    -- redelivered part whose number is already aggregated is ignored.
    ADD COLUMN part_numbers     integer[] NOT NULL DEFAULT '{}',
    ADD COLUMN part_offsets     bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN ingested_bytes   bigint NOT NULL DEFAULT 0,      -- bytes of parts accepted (log limit)
    ADD COLUMN dropped_parts    integer NOT NULL DEFAULT 0,     -- parts refused beyond the limit
    ADD COLUMN final_number     integer,                        -- number of the final part, once it arrived
    ADD COLUMN last_part_at     timestamptz,
    ADD COLUMN aggregate_after  timestamptz,                    -- parts wait for (re-)aggregation from then on
    ADD COLUMN content_version  integer NOT NULL DEFAULT 0,     -- +1 on every aggregation; guards archive and purge
    ADD COLUMN archive_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN archive_retry_at timestamptz,                    -- claim lease / retry time of the archiver
    ADD COLUMN archive_error    text;

CREATE INDEX logs_aggregate_due_idx ON logs (aggregate_after) WHERE aggregate_after IS NOT NULL;
CREATE INDEX logs_archive_due_idx ON logs (aggregated_at) WHERE NOT archive_verified AND purged_at IS NULL;
CREATE INDEX logs_purge_due_idx ON logs (archived_at) WHERE archive_verified AND purged_at IS NULL;
