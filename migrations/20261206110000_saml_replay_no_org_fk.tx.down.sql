DELETE FROM saml_replay r WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = r.org_id);
ALTER TABLE saml_replay ADD CONSTRAINT saml_replay_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
