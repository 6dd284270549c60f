-- Per-repository job limits (docs/security.md): NULL means the node's job_* setting applies.
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS job_memory_limit text;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS job_pids_limit integer;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS job_cpu_limit double precision;
ALTER TABLE repositories ADD COLUMN IF NOT EXISTS job_disk_limit text;
