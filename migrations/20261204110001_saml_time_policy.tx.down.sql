ALTER TABLE auth_providers DROP COLUMN clock_skew_minutes, DROP COLUMN max_assertion_minutes;
