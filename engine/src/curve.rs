//! Constant-product approximations of pools and their composition along a route: a chain of
//! swaps x → γ·R_out·x / (R_in + γ·x) composes into x → A·x / (B + C·x), whose
//! profit-maximising input has a closed form.

/// One hop as a constant-product curve: `out = gamma·r_out·x / (r_in + gamma·x)`.
/// Concentrated-liquidity pools enter with the virtual reserves of their current range.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Curve {
    /// Reserve of the input token (base units).
    pub reserve_in: f64,
    /// Reserve of the output token (base units).
    pub reserve_out: f64,
    /// Fraction of the input that reaches the curve (1 − fee).
    pub gamma: f64,
    /// Largest input (before fees) for which the pool's exact swap follows this curve to within
    /// rounding: unbounded for constant-product pools. 0 (the default) promises nothing here: a
    /// concentrated-liquidity pool's range is asked for when a route is sized
    /// (`WhirlpoolPool::exact_input`), not on every update.
    pub exact_up_to: f64,
}

impl Curve {
    /// Output for input `x` (before fees).
    #[inline]
    pub fn output(&self, x: f64) -> f64 {
        self.gamma * self.reserve_out * x / (self.reserve_in + self.gamma * x)
    }

    /// This hop with the transfer fees of its input and output mints (`keep` and `caps_at`
    /// of each from `Mint::transfer_fee_curve`; `(1, ∞)` for none) and `exact_up_to` capped
    /// where they stop following it. `largest_out` bounds what the hop can pay out before the
    /// output mint's fee (a constant-product pool's output reserve; ∞ where nothing short of the
    /// vault bounds it, as for concentrated liquidity, whose swaps cross into other ranges).
    /// A fee whose cap a transfer of the hop can reach is left out (the cap makes large
    /// transfers cheaper than the rate says), and the curve then follows the program nowhere.
    /// So the line through 0 at the curve's marginal rate bounds the program's output at every
    /// size (the detection prefilter relies on it: a route the exact quotes find profitable is
    /// never filtered out), and the curve itself bounds it up to `exact_up_to`. An input fee
    /// counts as reachable unless its cap binds only past the input at which that line passes
    /// `largest_out`.
    pub fn with_transfer_fees(
        self,
        (keep_in, caps_in): (f64, f64),
        (keep_out, caps_out): (f64, f64),
        largest_out: f64,
    ) -> Self {
        let mut curve = self;
        let mut limit = self.exact_up_to;
        // The input from which the line through 0 at the marginal rate passes what the hop can
        // pay out: past it that line bounds any output, capped fee or not.
        let rate = self.gamma * keep_in * self.reserve_out / self.reserve_in;
        let largest_in = if largest_out.is_finite() && rate > 0.0 {
            largest_out / rate
        } else {
            f64::INFINITY
        };
        if caps_in >= largest_in {
            curve.gamma *= keep_in;
            limit = limit.min(caps_in);
        } else {
            limit = 0.0;
        }
        if caps_out >= largest_out {
            curve.reserve_out *= keep_out;
        } else {
            limit = 0.0;
        }
        curve.exact_up_to = limit.max(0.0);
        curve
    }
}

/// A composed route `x → a·x / (b + c·x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chain {
    /// Numerator coefficient.
    pub a: f64,
    /// Denominator constant.
    pub b: f64,
    /// Denominator slope.
    pub c: f64,
}

impl Chain {
    /// The identity route (no hop yet).
    pub const IDENTITY: Chain = Chain {
        a: 1.0,
        b: 1.0,
        c: 0.0,
    };

    /// This route followed by one more hop.
    #[inline]
    pub fn then(self, hop: &Curve) -> Chain {
        // hop(y) = A2·y / (B2 + C2·y) with A2 = γ·R_out, B2 = R_in, C2 = γ; y = a·x / (b + c·x).
        let a2 = hop.gamma * hop.reserve_out;
        let b2 = hop.reserve_in;
        let c2 = hop.gamma;
        Chain {
            a: self.a * a2,
            b: self.b * b2,
            c: b2 * self.c + c2 * self.a,
        }
    }

    /// Output for input `x`.
    #[inline]
    pub fn output(&self, x: f64) -> f64 {
        self.a * x / (self.b + self.c * x)
    }

    /// The input whose output is `y` (∞ when the route never pays that much: its output
    /// approaches a/c).
    #[inline]
    pub fn input_for(&self, y: f64) -> f64 {
        let room = self.a - self.c * y;
        if room > 0.0 {
            self.b * y / room
        } else {
            f64::INFINITY
        }
    }

    /// Whether a marginal unit comes back larger than it went in (`a/b > 1 + min_edge`).
    #[inline]
    pub fn is_profitable(&self, min_edge: f64) -> bool {
        self.a > self.b * (1.0 + min_edge)
    }

    /// The input maximising `output(x) − x`: `(√(a·b) − b) / c`, or 0 when unprofitable.
    #[inline]
    pub fn optimal_input(&self) -> f64 {
        if self.a <= self.b || self.c <= 0.0 {
            return 0.0;
        }
        ((self.a * self.b).sqrt() - self.b) / self.c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_chain_equals_hop_by_hop() {
        let hops = [
            Curve {
                reserve_in: 1e9,
                reserve_out: 2e9,
                gamma: 0.9975,
                exact_up_to: f64::INFINITY,
            },
            Curve {
                reserve_in: 3e12,
                reserve_out: 1.6e12,
                gamma: 0.997,
                exact_up_to: f64::INFINITY,
            },
            Curve {
                reserve_in: 5e6,
                reserve_out: 5.2e6,
                gamma: 0.9999,
                exact_up_to: f64::INFINITY,
            },
        ];
        let chain = hops.iter().fold(Chain::IDENTITY, |c, h| c.then(h));
        for x in [1.0, 1e3, 1e6, 1e9] {
            let step = hops.iter().fold(x, |y, h| {
                h.gamma * h.reserve_out * y / (h.reserve_in + h.gamma * y)
            });
            let composed = chain.output(x);
            assert!(
                (composed - step).abs() <= 1e-9 * step.max(1.0),
                "{composed} vs {step}"
            );
        }
    }

    #[test]
    fn optimum_is_where_the_marginal_rate_is_one() {
        let chain = Chain::IDENTITY
            .then(&Curve {
                reserve_in: 1e6,
                reserve_out: 1.1e6,
                gamma: 0.997,
                exact_up_to: f64::INFINITY,
            })
            .then(&Curve {
                reserve_in: 1e6,
                reserve_out: 1e6,
                gamma: 0.997,
                exact_up_to: f64::INFINITY,
            });
        assert!(chain.is_profitable(0.0));
        let x = chain.optimal_input();
        let profit = |x: f64| chain.output(x) - x;
        assert!(profit(x) > 0.0);
        assert!(profit(x) >= profit(x * 1.01) && profit(x) >= profit(x * 0.99));
        let flat = Chain::IDENTITY.then(&Curve {
            reserve_in: 1e6,
            reserve_out: 1e6,
            gamma: 0.997,
            exact_up_to: f64::INFINITY,
        });
        assert_eq!(flat.optimal_input(), 0.0);
    }
}
