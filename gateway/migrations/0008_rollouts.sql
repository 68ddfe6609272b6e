-- The builds a node's agent runs and has installed (JSON `{"version", "build_id"}`, NULL from
-- agents before it), and rolling upgrades of the fleet: one row a rollout, its steps in `body`.
ALTER TABLE nodes ADD COLUMN agent_build TEXT;
ALTER TABLE nodes ADD COLUMN installed_build TEXT;

CREATE TABLE rollouts (
    rollout_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rollouts_state ON rollouts (state);
