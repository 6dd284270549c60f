-- Build caches (docs/cache.md): one archive per repository, branch and job signature (slug).
-- `store` is where the archive lives (dir: under cache_dir; s3: the archive bucket), `storage_key`
-- its key there.
CREATE TABLE IF NOT EXISTS caches (
    repository_id  bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    branch         text NOT NULL,
    slug           text NOT NULL,
    size           bigint NOT NULL,
    store          text NOT NULL,
    storage_key    text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, branch, slug)
);
