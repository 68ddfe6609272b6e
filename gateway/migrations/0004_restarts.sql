-- A bot's restart generation: `POST /bots/{id}/restart` bumps it and agents restart the bot
-- once when they see a generation newer than the one they applied.
ALTER TABLE bots ADD COLUMN restarts BIGINT NOT NULL DEFAULT 0;
