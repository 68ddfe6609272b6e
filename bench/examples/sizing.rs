//! How close the engine's sizes come to the exact optimum: every order placed on the 25,026-cycle
//! market (the `bench latency` detection figure's market, 200,000 updates) is compared with the
//! best exact profit of a dense search around it (1,000 sizes on a log grid over a factor of 8
//! either side, then 64 around the best). `cargo run --release -p sniperforge-bench --example
//! sizing`.

use sniperforge_engine::strategy::{Decision, Event, ManualClock};

fn main() {
    let (mut strategy, mut sim) = sniperforge_bench::large_strategy(7);
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    let (mut orders, mut rejected, mut below) = (0u64, 0u64, 0u64);
    let (mut ours_total, mut best_total) = (0i128, 0i128);
    let mut worst = 0.0f64;
    for _ in 0..200_000 {
        let update = sim.next_update();
        clock.advance(10_000);
        out.clear();
        let _ = strategy.process(&Event::Account(update), &clock, &mut out);
        for d in &out {
            let o = match d {
                Decision::Execute(order) => order.opportunity,
                Decision::Rejected { .. } => {
                    rejected += 1;
                    continue;
                }
                Decision::Filled(_) => continue,
            };
            let profit = |x: u64| {
                strategy
                    .route_output(o.cycle, x)
                    .map_or(i128::MIN, |out| out as i128 - x as i128)
            };
            let (lo, hi) = ((o.amount_in / 8).max(1), o.amount_in.saturating_mul(8));
            let ratio = (hi as f64 / lo as f64).powf(1.0 / 1000.0);
            let mut best = (lo, profit(lo));
            let mut x = lo as f64;
            for _ in 0..1000 {
                x *= ratio;
                let p = profit(x as u64);
                if p > best.1 {
                    best = (x as u64, p);
                }
            }
            let step = ((best.0 as f64 * (ratio - 1.0)) as u64).max(1);
            let around = best.0.saturating_sub(step);
            for k in 0..=64u64 {
                let xi = around + k * step / 32;
                let p = profit(xi);
                if p > best.1 {
                    best = (xi, p);
                }
            }
            let ours = profit(o.amount_in);
            orders += 1;
            ours_total += ours;
            best_total += best.1;
            if ours < best.1 - best.1 / 1_000 - 2 {
                below += 1;
                worst = worst.max((best.1 - ours) as f64 / best.1 as f64);
            }
        }
    }
    println!(
        "{orders} orders ({rejected} rejections not checked): {below} more than 0.1% below the \
         dense search's best (worst {:.3}%); profit {ours_total} of {best_total} ({:.5}%)",
        worst * 100.0,
        ours_total as f64 / best_total as f64 * 100.0
    );
}
