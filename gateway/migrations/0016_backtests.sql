-- Backtests run by node agents: the request as asked (JSON), where it stands, and its results
-- (report as JSON and its totals for listings, Markdown, PnL chart as SVG, measured timing) or
-- error.
CREATE TABLE backtests (
    backtest_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    report TEXT,
    summary TEXT,
    report_md TEXT,
    pnl_svg TEXT,
    timing TEXT,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX backtests_node_state ON backtests (node_id, state);
CREATE INDEX backtests_created ON backtests (created_at);
