DROP TABLE IF EXISTS dev_mails, rate_limits, audit_events, password_resets, sessions, team_members, teams, members, organizations, users;
