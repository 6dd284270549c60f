-- Secrets and repository settings (docs/security.md).
-- One RSA key pair per repository: `secure:` values in a config are encrypted against the public key
-- (as `travis encrypt` does). The private key is stored sealed (AES-256-GCM) under the cluster key
-- `secrets_key`; `key_id` names the cluster key that sealed it, so a rotation knows what is left to re-seal.
CREATE TABLE IF NOT EXISTS repository_keys (
    repository_id      bigint PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    public_key         text NOT NULL,                  -- PEM (SubjectPublicKeyInfo)
    fingerprint        text NOT NULL,                  -- SHA-256 of the public key's DER, hex pairs
    private_key_sealed text NOT NULL,                  -- cvs1:<key id>:<base64 nonce|ciphertext|tag>
    key_id             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Environment variables set in the repository settings. A secret one (`public` false) is stored sealed
-- under the cluster key and is never returned by the API; a public one is stored as written.
-- `branch` NULL: every branch.
CREATE TABLE IF NOT EXISTS repository_env_vars (
    id             bigserial PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    value          text NOT NULL,                      -- plain when public, sealed otherwise
    public         boolean NOT NULL DEFAULT false,
    branch         text,
    key_id         text,                               -- the cluster key that sealed `value` (NULL when public)
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS repository_env_vars_name_idx ON repository_env_vars (repository_id, name, coalesce(branch, ''));

-- Settings columns shared with other work (agreed names and types).
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS private boolean NOT NULL DEFAULT false;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS auto_cancel_pushes boolean NOT NULL DEFAULT true;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS auto_cancel_pull_requests boolean NOT NULL DEFAULT true;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS build_pushes boolean NOT NULL DEFAULT true;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS build_pull_requests boolean NOT NULL DEFAULT true;
