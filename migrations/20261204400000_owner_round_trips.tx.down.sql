DROP TABLE sso_results;
