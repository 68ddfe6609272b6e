-- What a trade cost and moved, and what it was: the route cost booked against its profit
-- (token units and USD), its input in USD (volume), the route's name and, for a live fill, its
-- transaction's signature. Trades stored before carry 0 and NULL.
ALTER TABLE trades ADD COLUMN fee DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN fee_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN volume_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN route TEXT;
ALTER TABLE trades ADD COLUMN signature TEXT;
