//! A trading bot's books in its state directory (`daily_pnl.json`): the day's PnL the loss
//! limit reads and the counters its metrics carry on from, read and written whole.

use std::path::PathBuf;

use serde_json::Value;

use super::{BotError, Shared, today};

fn daily_path(dir: &std::path::Path) -> PathBuf {
    dir.join("daily_pnl.json")
}

/// The longest books file read (it holds six numbers).
const DAILY_MAX: u64 = 4_096;

/// A bot's books as its state directory keeps them (`daily_pnl.json`): the day's PnL, which
/// the loss limit reads, and the counters since the bot was created (trades, fills, failures,
/// profit), which its metrics carry on from across restarts and handovers. A file from before
/// the counters holds the first two only (the counters then start at 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Books {
    /// The UTC day (days since the epoch) the daily PnL is of.
    pub(crate) day: i64,
    /// That day's PnL, USD.
    pub(crate) daily_pnl_usd: f64,
    /// Trades executed.
    pub(crate) trades: u64,
    /// Trades filled.
    pub(crate) filled: u64,
    /// Trades that failed.
    pub(crate) failed: u64,
    /// Profit, USD.
    pub(crate) profit_usd: f64,
    /// The highest sequence number given to a fill.
    pub(crate) last_seq: u64,
}

impl Books {
    /// What `g` holds now.
    pub(super) fn of(g: &Shared) -> Self {
        Self {
            day: g.day,
            daily_pnl_usd: g.daily_pnl_usd,
            trades: g.trades,
            filled: g.filled,
            failed: g.failed,
            profit_usd: g.profit_usd,
            last_seq: g.last_seq,
        }
    }

    /// Into `g`: the counters, and the daily PnL when it is today's (else 0 for today).
    pub(super) fn apply(&self, g: &mut Shared) {
        let today = today();
        g.day = today;
        g.daily_pnl_usd = if self.day == today {
            self.daily_pnl_usd
        } else {
            0.0
        };
        g.trades = self.trades;
        g.filled = self.filled;
        g.failed = self.failed;
        g.profit_usd = self.profit_usd;
        g.last_seq = g.last_seq.max(self.last_seq);
    }
}

/// Reads the books: only a regular file, never through a symlink or from a FIFO, at most
/// [`DAILY_MAX`] bytes (the bot's account owns the directory; what it holds is checked).
pub(super) fn load_books(dir: &std::path::Path) -> Result<Books, BotError> {
    use std::io::Read as _;
    let path = daily_path(dir);
    let fail = |e: &dyn std::fmt::Display| BotError::State(format!("{}: {e}", path.display()));
    let file = match sniperforge_host::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Books::default()),
        // Not a regular file: the error names the path already.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(BotError::State(e.to_string()));
        }
        Err(e) => return Err(fail(&e)),
    };
    let mut text = String::new();
    file.take(DAILY_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(&e))?;
    if text.len() as u64 > DAILY_MAX {
        return Err(fail(&format_args!("longer than {DAILY_MAX} bytes")));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| fail(&e))?;
    // A field of the wrong kind is an error: counters read as 0 would start the books over.
    let count = |k: &str| match &v[k] {
        Value::Null => Ok(0),
        n => n
            .as_u64()
            .ok_or_else(|| fail(&format_args!("{k}: not a count"))),
    };
    let usd = |k: &str| match &v[k] {
        Value::Null => Ok(0.0),
        n => n
            .as_f64()
            .ok_or_else(|| fail(&format_args!("{k}: not a number"))),
    };
    Ok(Books {
        day: v["day"].as_i64().unwrap_or(0),
        daily_pnl_usd: usd("pnl_usd")?,
        trades: count("trades")?,
        filled: count("filled")?,
        failed: count("failed")?,
        profit_usd: usd("profit_usd")?,
        last_seq: count("last_seq").and_then(|n| {
            i64::try_from(n)
                .map(|_| n)
                .map_err(|_| fail(&"last_seq: past 2^63 - 1"))
        })?,
    })
}

/// Writes the books: a temporary file, synced, renamed over the old one, the directory synced
/// (a crash leaves the old books or the new ones, never half of either).
pub(super) fn save_books(dir: &std::path::Path, b: &Books) -> Result<(), BotError> {
    use std::io::Write as _;
    let fail = |path: &std::path::Path, e: std::io::Error| {
        BotError::State(format!("{}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let tmp = dir.join("daily_pnl.json.tmp");
    let text = serde_json::json!({"day": b.day, "pnl_usd": b.daily_pnl_usd, "trades": b.trades,
        "filled": b.filled, "failed": b.failed, "profit_usd": b.profit_usd, "last_seq": b.last_seq})
    .to_string();
    let mut f = crate::process::create_private(&tmp).map_err(|e| fail(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| fail(&tmp, e))?;
    std::fs::rename(&tmp, daily_path(dir)).map_err(|e| fail(&daily_path(dir), e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(dir, e))
}
