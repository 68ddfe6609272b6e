-- Replicas: an observer bot run as several instances on different nodes. Each further
-- instance is a bot row of its own (id `<bot>-r<k>`) naming the bot it replicates (NULL: a
-- bot of its own); it runs that bot's configuration. The bot's placement holds the count.
ALTER TABLE bots ADD COLUMN replica_of TEXT;
CREATE INDEX bots_replica_of ON bots (replica_of);
