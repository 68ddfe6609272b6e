//! Trades: every fill a bot booked, stored once by (bot, node, sequence number) however often
//! its agent reports it, listed newest first a page at a time, and kept for a while.

use super::*;
use sniperforge_protocol::fleet::TradeFill;

/// One stored trade.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct TradeRow {
    /// The bot that booked it.
    pub bot_id: String,
    /// The bot's sequence number of it.
    pub seq: i64,
    /// The bot's environment.
    pub environment: Environment,
    /// The node that reported it.
    pub node_id: String,
    /// Booked at, unix ms.
    pub at_ms: i64,
    /// The token the round trip started and ended in.
    pub token: String,
    /// The route (the strategy's cycle number).
    pub cycle: i64,
    /// Input, token units.
    pub amount_in: f64,
    /// Output, token units (`null`: the route failed at fill time).
    pub amount_out: Option<f64>,
    /// Output quoted at decision time, token units.
    pub expected_out: f64,
    /// Profit, token units.
    pub pnl: f64,
    /// Profit, USD.
    pub pnl_usd: f64,
    /// Newest slot among the route's pool states at decision time.
    pub slot: i64,
    /// Decision to fill, µs.
    pub latency_us: i64,
    /// The route cost booked against the profit (a flash loan's fee; pool fees are inside the
    /// amounts), token units.
    pub fee: f64,
    /// The fee in USD.
    pub fee_usd: f64,
    /// The input in USD (the trade's volume; 0 for a route that failed).
    pub volume_usd: f64,
    /// The route's name (`SOL>USDC>SOL via raydium-v4,whirlpool`).
    pub route: Option<String>,
    /// The live transaction's signature, base58 (`null`: a paper fill).
    pub signature: Option<String>,
}

/// Sums over trades: one interval's or the whole range's.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PnlSums {
    /// Profit, USD (fees already taken off).
    pub pnl_usd: f64,
    /// Fees booked against it, USD.
    pub fee_usd: f64,
    /// Inputs traded, USD.
    pub volume_usd: f64,
    /// Trades (failed ones included).
    pub trades: i64,
    /// Trades with a profit.
    pub wins: i64,
    /// Trades with a loss.
    pub losses: i64,
    /// Routes that failed at fill time (no output, no PnL).
    pub failed: i64,
    /// `wins / trades` (`null`: no trades).
    pub win_rate: Option<f64>,
    /// The deepest fall of the cumulative PnL (from 0 at `from`) below its running peak
    /// (0 included), at any trade within, USD.
    pub drawdown_usd: f64,
}

impl PnlSums {
    /// Adds `o`'s sums (the drawdown is the deeper of the two).
    pub fn add(&mut self, o: &PnlSums) {
        self.pnl_usd += o.pnl_usd;
        self.fee_usd += o.fee_usd;
        self.volume_usd += o.volume_usd;
        self.trades += o.trades;
        self.wins += o.wins;
        self.losses += o.losses;
        self.failed += o.failed;
        self.win_rate = rate(self.wins, self.trades);
        self.drawdown_usd = self.drawdown_usd.max(o.drawdown_usd);
    }
}

fn rate(wins: i64, trades: i64) -> Option<f64> {
    (trades > 0).then(|| wins as f64 / trades as f64)
}

/// Which trades to list.
#[derive(Debug, Clone, Default)]
pub struct TradeFilter {
    /// One bot's (`None`: every bot's).
    pub bot_id: Option<String>,
    /// The environments reached.
    pub env: EnvFilter,
    /// Booked at or after, unix ms.
    pub from_ms: Option<i64>,
    /// Booked before, unix ms.
    pub to_ms: Option<i64>,
    /// After this one in the listing's order (newest first): at_ms, bot_id, node_id, seq.
    pub after: Option<(i64, String, String, i64)>,
    /// At most this many.
    pub limit: i64,
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores `fills` of bot `bot_id` (in `environment`, reported by `node_id`) in one
    /// transaction, each once: one already stored under its sequence number is left as it is.
    /// The indices in `fills` of those that were new.
    pub async fn add_trades(
        &self,
        bot_id: &str,
        environment: Environment,
        node_id: &str,
        fills: &[TradeFill],
    ) -> Result<Vec<usize>, StoreError> {
        if fills.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now_ms();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let mut added = Vec::new();
        for (i, f) in fills.iter().enumerate() {
            let done = sqlx::query(
                "INSERT INTO trades (bot_id, seq, environment, node_id, at_ms, token, cycle, amount_in, amount_out, expected_out, pnl, pnl_usd, slot, latency_us, received_at, fee, fee_usd, volume_usd, route, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT (bot_id, node_id, seq) DO NOTHING",
            )
            .bind(bot_id)
            .bind(int(f.seq))
            .bind(environment.as_str())
            .bind(node_id)
            .bind(f.at_ms)
            .bind(&f.token)
            .bind(i64::from(f.cycle))
            .bind(f.amount_in)
            .bind(f.amount_out)
            .bind(f.expected_out)
            .bind(f.pnl)
            .bind(f.pnl_usd)
            .bind(int(f.slot))
            .bind(int(f.latency_us))
            .bind(now)
            .bind(f.fee)
            .bind(f.fee_usd)
            .bind(f.volume_usd)
            .bind(f.route.as_deref())
            .bind(f.signature.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(db(format!("storing trade {} of bot {bot_id}", f.seq)))?;
            if done.rows_affected() > 0 {
                added.push(i);
            }
        }
        tx.commit()
            .await
            .map_err(db(format!("committing bot {bot_id}'s trades")))?;
        Ok(added)
    }

    /// Trades as `filter` says, newest first.
    pub async fn trades(&self, filter: &TradeFilter) -> Result<Vec<TradeRow>, StoreError> {
        let mut sql = format!(
            "SELECT bot_id, seq, environment, node_id, at_ms, token, cycle, amount_in, amount_out, expected_out, pnl, pnl_usd, slot, latency_us, fee, fee_usd, volume_usd, route, signature \
             FROM trades WHERE {}",
            filter.env.sql("environment")
        );
        // Placeholders numbered as they are added.
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.bot_id.is_some() {
            sql.push_str(&format!(" AND bot_id = {}", next()));
        }
        if filter.from_ms.is_some() {
            sql.push_str(&format!(" AND at_ms >= {}", next()));
        }
        if filter.to_ms.is_some() {
            sql.push_str(&format!(" AND at_ms < {}", next()));
        }
        if filter.after.is_some() {
            let (a, b, n, s) = (next(), next(), next(), next());
            sql.push_str(&format!(
                " AND (at_ms, bot_id, node_id, seq) < ({a}, {b}, {n}, {s})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY at_ms DESC, bot_id DESC, node_id DESC, seq DESC LIMIT {}",
            next()
        ));
        let mut q = sqlx::query(&sql);
        if let Some(b) = &filter.bot_id {
            q = q.bind(b);
        }
        if let Some(f) = filter.from_ms {
            q = q.bind(f);
        }
        if let Some(t) = filter.to_ms {
            q = q.bind(t);
        }
        if let Some((at, bot, node, seq)) = &filter.after {
            q = q.bind(*at).bind(bot).bind(node).bind(*seq);
        }
        let rows = q
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing trades"))?;
        rows.iter().map(trade_row).collect()
    }

    /// PnL per interval (its index from 0, its sums) of `step_ms` from `from_ms` (trades read from `read_from_ms`, to before
    /// `to_ms`) over the trades
    /// `env` and `bot_id` reach, in booking order, the intervals with trades only (by index
    /// from 0). Each interval's drawdown is the deepest fall of the cumulative PnL (from 0 at
    /// `from_ms`) below its running peak (0 included) at any trade within it.
    pub async fn pnl_intervals(
        &self,
        env: &EnvFilter,
        bot_id: Option<&str>,
        from_ms: i64,
        read_from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, PnlSums)>, StoreError> {
        let bot = if bot_id.is_some() {
            " AND bot_id = $5"
        } else {
            ""
        };
        // One pass in booking order: the running sum, then the running peak of it.
        let sql = format!(
            "WITH t AS (SELECT (at_ms - $1) / $2 AS b, pnl_usd, fee_usd, volume_usd, amount_out, \
                 SUM(pnl_usd) OVER (ORDER BY at_ms, bot_id, node_id, seq ROWS UNBOUNDED PRECEDING) AS cum, \
                 at_ms, bot_id, node_id, seq \
               FROM trades WHERE {} AND at_ms >= $3 AND at_ms < $4{bot}), \
             p AS (SELECT b, pnl_usd, fee_usd, volume_usd, amount_out, cum, \
                 MAX(cum) OVER (ORDER BY at_ms, bot_id, node_id, seq ROWS UNBOUNDED PRECEDING) AS peak FROM t) \
             SELECT b, SUM(pnl_usd) AS pnl_usd, SUM(fee_usd) AS fee_usd, SUM(volume_usd) AS volume_usd, \
                 COUNT(*) AS trades, \
                 SUM(CASE WHEN pnl_usd > 0 THEN 1 ELSE 0 END) AS wins, \
                 SUM(CASE WHEN pnl_usd < 0 THEN 1 ELSE 0 END) AS losses, \
                 SUM(CASE WHEN amount_out IS NULL THEN 1 ELSE 0 END) AS failed, \
                 MAX((CASE WHEN peak > 0 THEN peak ELSE 0 END) - cum) AS drawdown \
             FROM p GROUP BY b ORDER BY b",
            env.sql("environment")
        );
        let mut q = sqlx::query(&sql)
            .bind(from_ms)
            .bind(step_ms)
            .bind(read_from_ms)
            .bind(to_ms);
        if let Some(b) = bot_id {
            q = q.bind(b);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(db("summing trades"))?;
        rows.iter()
            .map(|r| {
                let col = |c: &'static str| db(format!("reading PnL column {c}"));
                let (trades, wins) = (
                    r.try_get("trades").map_err(col("trades"))?,
                    r.try_get("wins").map_err(col("wins"))?,
                );
                Ok((
                    r.try_get("b").map_err(col("b"))?,
                    PnlSums {
                        pnl_usd: r.try_get("pnl_usd").map_err(col("pnl_usd"))?,
                        fee_usd: r.try_get("fee_usd").map_err(col("fee_usd"))?,
                        volume_usd: r.try_get("volume_usd").map_err(col("volume_usd"))?,
                        trades,
                        wins,
                        losses: r.try_get("losses").map_err(col("losses"))?,
                        failed: r.try_get("failed").map_err(col("failed"))?,
                        win_rate: rate(wins, trades),
                        drawdown_usd: r.try_get("drawdown").map_err(col("drawdown"))?,
                    },
                ))
            })
            .collect()
    }

    /// Deletes the trades booked before `before_ms`.
    pub async fn prune_trades(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM trades WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(db("deleting old trades"))?;
        Ok(done.rows_affected())
    }
}

fn trade_row(r: &sqlx::any::AnyRow) -> Result<TradeRow, StoreError> {
    let col = |c: &'static str| db(format!("reading trade column {c}"));
    Ok(TradeRow {
        bot_id: r.try_get("bot_id").map_err(col("bot_id"))?,
        seq: r.try_get("seq").map_err(col("seq"))?,
        environment: env_column(r, "environment")?,
        node_id: r.try_get("node_id").map_err(col("node_id"))?,
        at_ms: r.try_get("at_ms").map_err(col("at_ms"))?,
        token: r.try_get("token").map_err(col("token"))?,
        cycle: r.try_get("cycle").map_err(col("cycle"))?,
        amount_in: r.try_get("amount_in").map_err(col("amount_in"))?,
        amount_out: r.try_get("amount_out").map_err(col("amount_out"))?,
        expected_out: r.try_get("expected_out").map_err(col("expected_out"))?,
        pnl: r.try_get("pnl").map_err(col("pnl"))?,
        pnl_usd: r.try_get("pnl_usd").map_err(col("pnl_usd"))?,
        slot: r.try_get("slot").map_err(col("slot"))?,
        latency_us: r.try_get("latency_us").map_err(col("latency_us"))?,
        fee: r.try_get("fee").map_err(col("fee"))?,
        fee_usd: r.try_get("fee_usd").map_err(col("fee_usd"))?,
        volume_usd: r.try_get("volume_usd").map_err(col("volume_usd"))?,
        route: r.try_get("route").map_err(col("route"))?,
        signature: r.try_get("signature").map_err(col("signature"))?,
    })
}
