-- Alert rules and the alerts they raise.
CREATE TABLE alert_rules (
    rule_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    webhook TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    target TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    resolved_at BIGINT NOT NULL
);
