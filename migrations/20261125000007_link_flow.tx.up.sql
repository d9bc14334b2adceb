-- The sign-in a pending link came from (hash of its RelayState or OAuth state): the
-- link can be completed only by the session that started that sign-in.
ALTER TABLE pending_links ADD COLUMN flow text NOT NULL DEFAULT '';
