ALTER TABLE auth_providers
    ADD COLUMN sp_key_sealed     text NOT NULL DEFAULT '',
    ADD COLUMN sp_cert           bytea,
    ADD COLUMN sign_requests     boolean NOT NULL DEFAULT false,
    ADD COLUMN require_encrypted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN auth_providers.sp_key_sealed IS 'The org''s SP private key (PKCS#8), sealed with AES-256-GCM under GATEHOUSE_SECRET_KEY.';
