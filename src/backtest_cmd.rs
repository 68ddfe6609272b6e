//! `sniperforge backtest`: a configuration over a recording, on the recording's clock, and a
//! parameter sweep over a grid of runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use sniperforge_bots::backtest::{self, Backtest};

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Configuration file (JSON; `sniperforge config template <type>` writes one). Its live
    /// settings are ignored: a backtest fills on paper.
    #[arg(long)]
    pub config: PathBuf,
    /// Recording to run over (`sniperforge record` writes one).
    #[arg(long)]
    pub replay: PathBuf,
    /// Directory for report.json, report.md, pnl.svg, timing.json and fills.jsonl (a sweep:
    /// one directory per run, and sweep.json and sweep.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Modelled decision-to-fill latency, µs (default: the configuration's paper_latency_us).
    #[arg(long)]
    pub latency_us: Option<u64>,
    /// A parameter's values to run, as `section.field=v1,v2,…` (`trading.min_profit_bps=10,20,50`);
    /// repeat for a grid of every combination (at most 64 runs).
    #[arg(long)]
    pub sweep: Vec<String>,
    /// Markets file of a recording made from a Solana node (its token table); the simulator's
    /// tokens otherwise.
    #[arg(long)]
    pub markets: Option<PathBuf>,
    /// Longest one run may take, seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout_s: u64,
}

/// A run's directory name: its number and parameters, kept to safe characters.
fn run_dir(i: usize, params: &BTreeMap<String, Value>) -> String {
    let mut name = format!("{:02}", i + 1);
    for (k, v) in params {
        let field = k.rsplit('.').next().unwrap_or(k);
        let v = match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        name.push_str(&format!("_{field}={v}"));
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(120)
        .collect()
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

pub fn run(a: &BacktestArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&a.config) {
        Ok(t) => t,
        Err(e) => return fail(format!("--config {}: {e}", a.config.display())),
    };
    let config: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return fail(format!("--config {}: not JSON: {e}", a.config.display())),
    };
    let markets = match a.markets.as_deref().map(sniperforge_solana::Markets::load) {
        Some(Err(e)) => return fail(e),
        Some(Ok(m)) => Some(m),
        None => None,
    };
    // Every run's configuration is checked (and the grid counted) before the first starts.
    let runs = match backtest::backtest_runs(&config, a.latency_us, &a.sweep) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let sweep = !a.sweep.is_empty();
    let specs: Vec<(PathBuf, Backtest)> = runs
        .into_iter()
        .enumerate()
        .map(|(i, (params, _))| {
            let dir = if sweep {
                a.out.join(run_dir(i, &params))
            } else {
                a.out.clone()
            };
            let spec = Backtest {
                config: config.clone(),
                params,
                recording: a.replay.clone(),
                latency_us: a.latency_us,
                markets: markets.clone(),
                timeout: Duration::from_secs(a.timeout_s),
                work_dir: dir.join(".state"),
            };
            (dir, spec)
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let mut done: Vec<(String, backtest::Report)> = Vec::new();
    for (dir, spec) in specs {
        let outcome = match rt.block_on(backtest::run(&spec)) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                return ExitCode::from(1);
            }
        };
        if let Err(e) = backtest::write(&dir, &outcome) {
            eprintln!("error: writing {}: {e}", dir.display());
            return ExitCode::from(1);
        }
        let r = &outcome.report;
        println!(
            "{}: {} trades, PnL {:.2} USD, win rate {}, max drawdown {:.2} USD",
            dir.display(),
            r.trades,
            r.pnl_usd,
            r.win_rate
                .map_or("—".into(), |w| format!("{:.1} %", w * 100.0)),
            r.max_drawdown_usd
        );
        done.push((relative(&dir, &a.out), outcome.report));
    }
    if sweep {
        let table: Vec<Value> = done
            .iter()
            .map(|(dir, r)| {
                serde_json::json!({"dir": dir, "params": r.params, "trades": r.trades,
                    "win_rate": r.win_rate, "pnl_usd": r.pnl_usd,
                    "max_drawdown_usd": r.max_drawdown_usd, "rejected": r.rejected})
            })
            .collect();
        let json = serde_json::to_string_pretty(&table).unwrap_or_default() + "\n";
        let written = std::fs::write(a.out.join("sweep.json"), json)
            .and_then(|()| std::fs::write(a.out.join("sweep.md"), backtest::sweep_md(&done)));
        if let Err(e) = written {
            eprintln!(
                "error: writing the sweep's table into {}: {e}",
                a.out.display()
            );
            return ExitCode::from(1);
        }
        println!("{}", a.out.join("sweep.md").display());
    }
    ExitCode::SUCCESS
}

fn relative(dir: &Path, base: &Path) -> String {
    dir.strip_prefix(base).unwrap_or(dir).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_name_their_parameters_in_safe_characters() {
        let params = BTreeMap::from([
            ("execution.paper_latency_us".to_string(), Value::from(400)),
            ("trading.min_profit_bps".to_string(), Value::from(10)),
        ]);
        assert_eq!(
            run_dir(1, &params),
            "02_paper_latency_us=400_min_profit_bps=10"
        );
        assert_eq!(
            run_dir(0, &BTreeMap::from([("a.b".into(), Value::from("../x y"))])),
            "01_b=..-x-y"
        );
    }
}
