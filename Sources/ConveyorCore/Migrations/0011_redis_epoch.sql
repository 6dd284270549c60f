-- The Redis epoch (docs/runbook.md#redis-lost-or-behind): the highest value of `cv:epoch` that
-- Redis is known to have held. Redis answering less (or nothing) lost writes: the cluster rebuilds
-- Redis from PostgreSQL (`RedisRepair`). One row per key prefix, so clusters sharing a database
-- with different prefixes keep their own.
CREATE TABLE IF NOT EXISTS redis_epochs (
    key_prefix   text PRIMARY KEY,
    seq          bigint NOT NULL DEFAULT 0,
    repairs      bigint NOT NULL DEFAULT 0,
    repaired_at  timestamptz,
    last_reason  text
);
