//! A backtest's report as Markdown, its cumulative PnL as SVG, a sweep as a table: text built
//! from the report alone (fixed decimals), so two runs write the same bytes.

use std::fmt::Write;

use super::Report;

fn usd(v: f64) -> String {
    // `-0.00` and `0.00` are the same PnL.
    let v = if v.abs() < 0.005 { 0.0 } else { v };
    format!("{v:.2}")
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

/// A Markdown cell: `|` and line breaks would break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as Markdown.
pub fn report_md(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Backtest: {} ({})\n", cell(&r.bot_id), r.bot_type);
    let _ = writeln!(
        md,
        "Recording `{}` ({} bytes, {} updates, {:.1} ms of market to the last fill); modelled decision-to-fill latency {} µs.",
        cell(&r.recording),
        r.recording_bytes,
        r.updates,
        r.span_ms,
        r.latency_model_us
    );
    if !r.params.is_empty() {
        let set: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("`{k}` = {v}"))
            .collect();
        let _ = writeln!(md, "\nParameters set for this run: {}.", set.join(", "));
    }
    if let Some(h) = &r.halted {
        let _ = writeln!(md, "\n**Halted before the end**: {}", cell(h));
    }
    let _ = writeln!(md, "\n## Result\n\n| | |\n|---|---|");
    for (k, v) in [
        ("PnL (USD)", usd(r.pnl_usd)),
        ("trades", r.trades.to_string()),
        (
            "wins / losses / failed",
            format!("{} / {} / {}", r.wins, r.losses, r.failed),
        ),
        ("win rate", pct(r.win_rate)),
        ("max drawdown (USD)", usd(r.max_drawdown_usd)),
        (
            "best / worst trade (USD)",
            format!("{} / {}", usd(r.best_usd), usd(r.worst_usd)),
        ),
        ("volume (USD)", usd(r.volume_usd)),
        ("fees (USD)", usd(r.fee_usd)),
        ("orders open at the end", r.open_at_end.to_string()),
    ] {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\n## Opportunities\n\n{} confirmed by the exact quotes: {} ordered, {} stopped by the risk gates.\n\n| gate | rejected |\n|---|---|",
        r.opportunities_seen,
        r.orders,
        r.rejected.values().sum::<u64>()
    );
    for (gate, n) in &r.rejected {
        let _ = writeln!(md, "| {gate} | {n} |");
    }
    let _ = writeln!(
        md,
        "\n## Latency per stage (recording clock, µs)\n\n| stage | p50 | p99 | max |\n|---|---|---|---|"
    );
    for (stage, s) in &r.latency_us {
        let _ = writeln!(md, "| {stage} | {} | {} | {} |", s.p50, s.p99, s.max);
    }
    let _ = writeln!(
        md,
        "\nThe strategy's own processing time is measured, not modelled: see `timing.json`.\n\n## Routes\n\n| route | trades | wins | failed | PnL (USD) |\n|---|---|---|---|---|"
    );
    for line in r.routes.iter().take(50) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            cell(&line.route),
            line.trades,
            line.wins,
            line.failed,
            usd(line.pnl_usd)
        );
    }
    if r.routes_total > 50 {
        let _ = writeln!(
            md,
            "\n{} routes traded in all; report.json lists the best {}.",
            r.routes_total,
            r.routes.len()
        );
    }
    md
}

/// XML text: `&`, `<`, `>` and quotes escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The cumulative PnL after each fill (ms on the recording's clock, USD) as an SVG line chart.
pub fn pnl_svg(equity: &[(f64, f64)], title: &str) -> String {
    let (w, h) = (800.0, 320.0);
    let (l, r, t, b) = (80.0, 16.0, 28.0, 36.0);
    let t1 = equity.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let lo = equity.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let hi = equity.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let x = |v: f64| l + v / t1 * (w - l - r);
    let y = |v: f64| t + (1.0 - (v - lo) / span) * (h - t - b);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    let _ = writeln!(
        svg,
        r#"<text x="{l}" y="18">{} — cumulative PnL (USD) by recording time</text>"#,
        xml(title)
    );
    for i in 0..=4 {
        let v = lo + span * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{l}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - r,
            y(v),
            y(v),
            l - 6.0,
            y(v) + 4.0,
            usd(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{l}" y="{:.1}">0 ms</text><text x="{:.1}" y="{:.1}" text-anchor="end">{t1:.1} ms</text>"#,
        h - 10.0,
        w - r,
        h - 10.0
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{l}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#888888" stroke-dasharray="4 3"/>"##,
        w - r,
        y(0.0),
        y(0.0)
    );
    if !equity.is_empty() {
        let mut points = format!("{:.1},{:.1}", x(0.0), y(0.0));
        for (tm, v) in equity {
            let _ = write!(points, " {:.1},{:.1}", x(*tm), y(*v));
        }
        let _ = writeln!(
            svg,
            r##"<polyline points="{points}" fill="none" stroke="#2f6fde" stroke-width="1.6"/>"##
        );
    } else {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">no trades</text>"#,
            w / 2.0,
            h / 2.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A sweep's runs as a Markdown table: each run's parameters and results, best PnL marked.
pub fn sweep_md(runs: &[(String, Report)]) -> String {
    let mut md = String::from("# Backtest sweep\n\n");
    let keys: Vec<&String> = runs
        .first()
        .map(|(_, r)| r.params.keys().collect())
        .unwrap_or_default();
    let best = runs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.1.pnl_usd.total_cmp(&b.1.1.pnl_usd).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i);
    let _ = write!(md, "| run |");
    for k in &keys {
        let _ = write!(md, " `{k}` |");
    }
    let _ = writeln!(
        md,
        " trades | win rate | PnL (USD) | max drawdown (USD) | rejected |"
    );
    let _ = writeln!(md, "|---|{}---|---|---|---|---|", "---|".repeat(keys.len()));
    for (i, (dir, r)) in runs.iter().enumerate() {
        let _ = write!(
            md,
            "| [{}]({}/report.md){} |",
            cell(dir),
            cell(dir),
            if Some(i) == best { " **best**" } else { "" }
        );
        for k in &keys {
            let _ = write!(
                md,
                " {} |",
                r.params
                    .get(*k)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            md,
            " {} | {} | {} | {} | {} |",
            r.trades,
            pct(r.win_rate),
            usd(r.pnl_usd),
            usd(r.max_drawdown_usd),
            r.rejected.values().sum::<u64>()
        );
    }
    md
}
