ALTER TABLE scim_tokens DROP COLUMN operator_issued;
