-- Password login: users with an argon2id hash and a role; login sessions are tokens named
-- `session:<user>` that expire.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
