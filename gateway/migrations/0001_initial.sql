-- The gateway's store; portable between SQLite and PostgreSQL (no autoincrement, no JSON types).
CREATE TABLE bots (
    bot_id TEXT PRIMARY KEY,
    bot_type TEXT NOT NULL,
    node_id TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE config_versions (
    config_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    bot_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (config_id, version)
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit (
    at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (at, seq)
);
