-- 1 min latency windows per scope (fleet, bot:<id>, type:<t>, node:<id>) and stage: sparse
-- bucket counts packed as varint (value delta, count) pairs, base64 (one column type on SQLite
-- and PostgreSQL). A minute may have more than one row (a gateway restarted within it): a
-- query merges every row of its range.
CREATE TABLE latency_minutes (
    scope TEXT NOT NULL,
    stage TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX latency_minutes_by_scope ON latency_minutes (scope, stage, start_ms);
CREATE INDEX latency_minutes_by_start ON latency_minutes (start_ms);
