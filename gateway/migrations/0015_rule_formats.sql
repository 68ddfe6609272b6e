-- How a rule's webhook bodies are shaped (`generic`, `slack`, `discord`, `telegram`; NULL:
-- generic) and, for Telegram's bot API, the chat its messages go to.
ALTER TABLE alert_rules ADD COLUMN format TEXT;
ALTER TABLE alert_rules ADD COLUMN chat_id TEXT;
