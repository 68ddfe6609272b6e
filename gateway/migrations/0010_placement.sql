-- Placement: how a bot asked to be placed (JSON `{"auto", "labels", "cores", "failover"}`;
-- NULL: on the node it names, no failover), the cores it holds on its node (JSON list; the
-- core ledger is these over a node's bots), and why it waits when no node can take it yet
-- (NULL: placed). Nodes carry the labels placement constraints match (JSON object), and
-- whether their agent fences the bots that fail over (1; NULL: an agent before fencing, whose
-- bots are never failed over).
ALTER TABLE bots ADD COLUMN placement TEXT;
ALTER TABLE bots ADD COLUMN cores TEXT;
ALTER TABLE bots ADD COLUMN pending_reason TEXT;
ALTER TABLE nodes ADD COLUMN labels TEXT;
ALTER TABLE nodes ADD COLUMN fences BIGINT;
CREATE INDEX bots_node ON bots (node_id);
