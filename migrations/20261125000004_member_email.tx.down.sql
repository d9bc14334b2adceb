DROP TRIGGER IF EXISTS members_email ON members;
DROP FUNCTION IF EXISTS members_set_email();
ALTER TABLE members DROP COLUMN IF EXISTS email;
