-- A node's own failover window (`agent --failover-after-s`; NULL: the gateway's), and the
-- longer window a node that re-registered with a shorter one keeps until the leases its agent
-- held under the old one have lapsed (NULL: none).
ALTER TABLE nodes ADD COLUMN failover_after_ms BIGINT;
ALTER TABLE nodes ADD COLUMN window_floor_ms BIGINT;
ALTER TABLE nodes ADD COLUMN window_floor_until BIGINT;
