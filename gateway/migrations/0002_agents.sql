-- Nodes, what their agents report, and the desired-state index agents block on.
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    cores BIGINT NOT NULL,
    isolated_cores TEXT NOT NULL,
    memory_mb BIGINT NOT NULL,
    backend TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL
);

CREATE TABLE bot_reports (
    bot_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO meta (name, value) VALUES ('desired_index', 1);
