-- Environments as a boundary: every bot, configuration version and alert carries its
-- environment (indexed: lists filter on it); tokens and users may be scoped to some
-- environments (NULL: all of them); nodes say which environments their agent serves (NULL:
-- all); alert rules have a scope (NULL: the fleet). Rows from before are filled in by the
-- gateway at start (from each configuration's body).
ALTER TABLE bots ADD COLUMN environment TEXT;
ALTER TABLE config_versions ADD COLUMN environment TEXT;
ALTER TABLE alerts ADD COLUMN environment TEXT;
ALTER TABLE alert_rules ADD COLUMN scope TEXT;
ALTER TABLE tokens ADD COLUMN environments TEXT;
ALTER TABLE users ADD COLUMN environments TEXT;
ALTER TABLE nodes ADD COLUMN environments TEXT;
CREATE INDEX bots_environment ON bots (environment);
CREATE INDEX config_versions_environment ON config_versions (environment);
CREATE INDEX alerts_environment ON alerts (environment);
