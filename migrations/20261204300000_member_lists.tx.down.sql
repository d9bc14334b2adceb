DROP TRIGGER members_count_insert ON members;
DROP TRIGGER members_count_delete ON members;
DROP FUNCTION members_count_insert();
DROP FUNCTION members_count_delete();
DROP TABLE org_member_counts;
DROP INDEX members_org_joined_email_idx;
