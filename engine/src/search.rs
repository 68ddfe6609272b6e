//! The exact sizing's one-dimensional search: Brent's method (parabolic steps through the three
//! best points, golden-section steps where a parabola cannot be trusted) on a function of whole
//! units that is concave to within rounding, such as a route's exact profit.

/// 2 − φ: the golden-section step.
const GOLDEN: f64 = 0.381_966_011_250_105_1;

/// Looks for the maximum of `f` over `[lo, hi]` until the bracket around it is at most
/// `2·tolerance` wide; `f` is called on whole units in the bracket (the caller keeps the best
/// it saw). On a smooth concave function it needs a few evaluations
/// past the first (parabolic steps converge superlinearly); it never needs many more than a
/// golden-section search, whose steps it falls back on.
/// An empty bracket (`hi <= lo`) evaluates `lo` alone.
pub fn maximize(lo: u64, hi: u64, tolerance: u64, mut f: impl FnMut(u64) -> f64) {
    if hi <= lo {
        f(lo);
        return;
    }
    let tol = tolerance.max(1) as f64;
    let (mut a, mut b) = (lo as f64, hi as f64);
    // Minimises g = −f; a failed point (−∞ profit) becomes a large finite value so that the
    // parabola's arithmetic stays finite (its safeguards then reject the step).
    let mut g = |x: f64| -> f64 {
        // Past 2^53 an f64 bound may round outside the bracket: clamp as integers.
        let v = -f((x.round() as u64).clamp(lo, hi));
        if v.is_finite() { v } else { f64::MAX / 4.0 }
    };
    let mut x = a + GOLDEN * (b - a);
    let (mut w, mut v) = (x, x);
    let mut fx = g(x);
    let (mut fw, mut fv) = (fx, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    // A bounded number of steps: the bracket shrinks at least by a golden step every other one.
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        let tol2 = 2.0 * tol;
        if (x - m).abs() <= tol2 - 0.5 * (b - a) {
            break;
        }
        let mut golden = true;
        if e.abs() > tol {
            // A parabola through x, w and v.
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            } else {
                q = -q;
            }
            let previous = e;
            e = d;
            // Accepted when it falls inside the bracket and moves less than half the step
            // before last (otherwise it may be converging on nothing).
            if p.abs() < (0.5 * q * previous).abs() && p > q * (a - x) && p < q * (b - x) {
                d = p / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = tol.copysign(m - x);
                }
                golden = false;
            }
        }
        if golden {
            e = if x >= m { a - x } else { b - x };
            d = GOLDEN * e;
        }
        let u = if d.abs() >= tol {
            x + d
        } else {
            x + tol.copysign(d)
        };
        let fu = g(u);
        if fu <= fx {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            (v, fv) = (w, fw);
            (w, fw) = (x, fx);
            (x, fx) = (u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv) = (w, fw);
                (w, fw) = (u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `maximize` and returns (best point seen, evaluations).
    fn run(lo: u64, hi: u64, tol: u64, f: impl Fn(u64) -> f64) -> (u64, usize) {
        let mut best = (lo, f64::NEG_INFINITY);
        let mut calls = 0;
        maximize(lo, hi, tol, |x| {
            assert!((lo..=hi).contains(&x), "{x} outside [{lo}, {hi}]");
            calls += 1;
            let v = f(x);
            if v > best.1 {
                best = (x, v);
            }
            v
        });
        (best.0, calls)
    }

    #[test]
    fn finds_the_top_of_a_route_profit_curve_in_few_steps() {
        // A constant-product round trip with a 2 % edge: a·x/(b + c·x) − x.
        let (a, b, c) = (1.02e12, 1e12, 1.0);
        let profit = |x: u64| {
            let x = x as f64;
            a * x / (b + c * x) - x
        };
        let x0 = ((a * b).sqrt() - b) / c;
        let (lo, hi) = ((x0 / 2.0) as u64, (x0 * 2.0) as u64);
        let tol = (x0 as u64) >> 6;
        let (best, calls) = run(lo, hi, tol, profit);
        assert!(
            (best as f64 - x0).abs() <= 2.0 * tol as f64,
            "{best} vs {x0}"
        );
        // A golden-section search needs 2 + ⌈ln(96)/ln(φ)⌉ = 12 here.
        assert!(calls <= 8, "{calls} evaluations");
        // Within a 1.6 % input of the top, the profit is within 0.03 % of it.
        assert!(profit(best) >= profit(x0 as u64) * (1.0 - 3e-4));
    }

    #[test]
    fn brackets_past_two_to_the_53_stay_inside_as_integers() {
        // f64 cannot hold every integer here: the points are clamped as integers.
        let lo = (1u64 << 54) + 1;
        let (_, calls) = run(lo, lo + 3, 1, |x| {
            -((x as i128 - lo as i128 - 2).pow(2)) as f64
        });
        assert!(calls >= 1);
        let (_, calls) = run(u64::MAX - 10, u64::MAX, 1, |x| x as f64);
        assert!(calls >= 1);
    }

    #[test]
    fn a_kinked_or_failing_function_still_converges_within_the_bracket() {
        // A concave function with a kink (a tick crossing into thinner liquidity) and points
        // that fail past 900 (a route the programs refuse).
        let f = |x: u64| {
            if x > 900 {
                f64::NEG_INFINITY
            } else if x <= 600 {
                x as f64
            } else {
                600.0 - 0.5 * (x - 600) as f64
            }
        };
        let (best, calls) = run(100, 1_000, 4, f);
        assert!((best as i64 - 600).abs() <= 8, "{best}");
        assert!(calls < 40, "{calls}");
        // Degenerate brackets.
        assert_eq!(run(5, 5, 1, |x| x as f64), (5, 1));
        let mut seen = Vec::new();
        maximize(7, 3, 1, |x| {
            seen.push(x);
            0.0
        });
        assert_eq!(seen, vec![7]);
    }
}
