-- Trades: every fill a bot booked, as its agent reported it, once per (bot, node, sequence
-- number) however often it is reported (a report repeated after a lost answer, an agent
-- restarted before it moved its cursor on). The node is part of the key: a bot's journal is
-- its node's, so a bot placed on another node numbers its fills there afresh. Kept for
-- `gateway --trades-kept-s` (default 90 days).
CREATE TABLE trades (
    bot_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    environment TEXT NOT NULL,
    node_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    token TEXT NOT NULL,
    cycle BIGINT NOT NULL,
    amount_in DOUBLE PRECISION NOT NULL,
    amount_out DOUBLE PRECISION,
    expected_out DOUBLE PRECISION NOT NULL,
    pnl DOUBLE PRECISION NOT NULL,
    pnl_usd DOUBLE PRECISION NOT NULL,
    slot BIGINT NOT NULL,
    latency_us BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (bot_id, node_id, seq)
);
CREATE INDEX trades_at ON trades (at_ms);
CREATE INDEX trades_env_at ON trades (environment, at_ms);
CREATE INDEX trades_bot_at ON trades (bot_id, at_ms);
