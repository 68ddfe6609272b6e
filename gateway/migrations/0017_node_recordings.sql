-- The recordings a node's agent last listed in DATA/recordings/ (JSON: name, bytes,
-- modified_ms, newest first; NULL until it lists them): what a backtest there can replay.
ALTER TABLE nodes ADD COLUMN recordings TEXT;
