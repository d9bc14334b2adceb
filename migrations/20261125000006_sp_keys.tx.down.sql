ALTER TABLE auth_providers DROP COLUMN IF EXISTS sp_key_sealed, DROP COLUMN IF EXISTS sp_cert,
    DROP COLUMN IF EXISTS sign_requests, DROP COLUMN IF EXISTS require_encrypted;
