//! Where detection's tail goes: the per-update time of the 25,026-cycle market (the
//! `bench latency` detection figure) against the candidates, sizings and decisions of each
//! update, by percentile band. `cargo run --release -p sniperforge-bench --example tail`.

use sniperforge_engine::strategy::{Event, ManualClock};

/// Time (ns), candidates, opportunities, rejections, executions, decisions of one update.
type Row = (u64, u64, u64, u64, u64, usize);

fn main() {
    let (mut strategy, mut sim) = sniperforge_bench::large_strategy(7);
    let batch: Vec<_> = (0..200_000).map(|_| sim.next_update()).collect();
    let clock = ManualClock::new(0);
    let mut out = Vec::with_capacity(64);
    let mut rows: Vec<Row> = Vec::new();
    let mut all_reasons: Vec<(u64, String)> = Vec::new();
    for update in batch {
        clock.advance(10_000);
        out.clear();
        let before = strategy.counters();
        let event = Event::Account(update);
        let t = std::time::Instant::now();
        let _ = strategy.process(&event, &clock, &mut out);
        let ns = t.elapsed().as_nanos() as u64;
        for d in &out {
            if let sniperforge_engine::strategy::Decision::Rejected { reason, .. } = d {
                all_reasons.push((ns, format!("{reason:?}")));
            }
        }
        let after = strategy.counters();
        rows.push((
            ns,
            after.candidates - before.candidates,
            after.opportunities - before.opportunities,
            after.rejected - before.rejected,
            after.executed - before.executed,
            out.len(),
        ));
    }
    rows.sort();
    let n = rows.len();
    let cut = rows[n * 99 / 100].0;
    let reasons: Vec<(u64, String)> = all_reasons
        .into_iter()
        .filter(|(ns, _)| *ns >= cut)
        .collect();
    for (name, from, to) in [
        ("p0-p50", 0, n / 2),
        ("p50-p98", n / 2, n * 98 / 100),
        ("p98-p99", n * 98 / 100, n * 99 / 100),
        ("p99-p99.9", n * 99 / 100, n * 999 / 1000),
        ("top 0.1%", n * 999 / 1000, n),
    ] {
        let s = &rows[from..to];
        let k = s.len() as f64;
        let avg = |f: &dyn Fn(&Row) -> f64| s.iter().map(f).sum::<f64>() / k;
        println!(
            "{name}: {} updates, time {:.1} us, candidates {:.2}, sized ok {:.2}, rejected {:.2}, executed {:.2}, decisions {:.2}",
            s.len(),
            avg(&|r| r.0 as f64) / 1e3,
            avg(&|r| r.1 as f64),
            avg(&|r| r.2 as f64),
            avg(&|r| r.3 as f64),
            avg(&|r| r.4 as f64),
            avg(&|r| r.5 as f64)
        );
    }
    println!("p99 {:.1} us", rows[n * 99 / 100].0 as f64 / 1e3);
    let mut by_reason = std::collections::BTreeMap::new();
    for (_, reason) in &reasons {
        *by_reason.entry(reason.clone()).or_insert(0u64) += 1;
    }
    println!("rejections of the slowest 1%: {by_reason:?}");
    let c = strategy.counters();
    let per = |quotes: u64, n: u64| quotes as f64 / n.max(1) as f64;
    let all = (c.sized_at_optimum + c.sized_by_search + c.sized_by_scan).max(1) as f64;
    println!(
        "sizings: {} at the closed form's optimum ({:.0}%, {:.1} exact route passes each), {} by search ({:.1} each), {} by scan ({:.1} each)",
        c.sized_at_optimum,
        c.sized_at_optimum as f64 * 100.0 / all,
        per(c.quotes_at_optimum, c.sized_at_optimum),
        c.sized_by_search,
        per(c.quotes_by_search, c.sized_by_search),
        c.sized_by_scan,
        per(c.quotes_by_scan, c.sized_by_scan)
    );
}
