-- `secure:` notification targets (docs/notifications.md). A delivery's `target` then holds a stand-in
-- (`secure:<16 hex>`, SHA-256 of the ciphertext) and `sealed_targets` maps each stand-in to its
-- ciphertext, still encrypted with the repository's key: the hub decrypts it only when it sends.
-- A target withheld from a fork's pull request is recorded with state 'withheld' and why in last_error.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS sealed_targets jsonb;
