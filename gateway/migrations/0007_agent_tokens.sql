-- Agent tokens are bound to one node: an agent reaches only the agent routes, for its node.
ALTER TABLE tokens ADD COLUMN node_id TEXT;
