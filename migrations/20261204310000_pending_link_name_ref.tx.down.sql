ALTER TABLE pending_links DROP COLUMN IF EXISTS name_ref;
