//! Differential privacy for published counts: the discrete Laplace mechanism
//! and the ε ledger per group and week.
//!
//! # Mechanism
//! A count (or an integer sum) whose value changes by at most Δ (the
//! *sensitivity*) when one person is added or removed is released as
//! `value + Z`, where `Z` follows the discrete Laplace (two-sided geometric)
//! distribution
//!
//! ```text
//! P(Z = z) = (1 − α) / (1 + α) · α^|z|,   α = exp(−ε/Δ)
//! ```
//!
//! which makes the release ε-differentially private (Ghosh, Roughgarden and
//! Sundararajan, 2009). Its variance is `2α / (1 − α)²`.
//!
//! # Sampling, exactly
//! Textbook samplers invert a floating-point uniform (`⌊ln U / ln α⌋`): `U`
//! has 53 bits, so the tails are cut off and some values are impossible or
//! over-weighted, which can reveal the true value (Mironov, 2012, for the
//! continuous Laplace). Here no
//! floating-point number is involved: ε is a binary fraction `m·2^e`
//! exactly, so `γ = ε/Δ` is an exact rational, and every random decision is
//! a comparison of uniform random bits with an exact rational. The output
//! has the distribution above with no approximation, except that values
//! beyond the `i64` range saturate (a post-processing, which keeps the
//! guarantee).
//!
//! `Z` is drawn as in Canonne, Kamath and Steinke (2020, algorithm 2): a
//! sign `S` and a magnitude `Y ~ Geometric(α)` (`P(Y = y) = (1 − α)·α^y`),
//! rejecting `S = −, Y = 0` so that zero is not counted twice. `Y` is built
//! from its binary digits, which are independent for a geometric variable:
//! digit `i` is 1 with probability `α^(2^i) / (1 + α^(2^i))`, because
//! `∏ (1 + α^(2^i)) = 1 / (1 − α)`. Hence
//! - whether `Y ≥ 2^64` (saturation) is one draw of `Bernoulli(α^(2^64))`;
//! - digits whose `γ·2^i < 1` are drawn one by one, as
//!   `Bernoulli(1 / (1 + e^x))` with `x = γ·2^i`;
//! - the higher digits together are `⌊Y / 2^j⌋ ~ Geometric(e^(−γ·2^j))`,
//!   counted as successes of `Bernoulli(e^(−γ·2^j))` — fewer than 0.6 on
//!   average since `γ·2^j ≥ 1`.
//!
//! `Bernoulli(e^(−x))` for a rational `x` is the algorithm 1 of the same
//! paper (a von Neumann-style series), `Bernoulli(q / (1 + q))` is a
//! rejection between a fair coin and a `Bernoulli(q)`. Every loop ends with
//! a constant probability per round, so a sample takes a bounded expected
//! number of random bits whatever ε and Δ: one 64-bit word for ε/Δ ≥ 1,
//! about a dozen at worst (ε/Δ near 1e−18, 64 digits drawn one by one).
//!
//! # Budget
//! Every release of a (group, week) spends its ε; by sequential
//! composition the week of that group is `Σ ε`-differentially private.
//! [`Budget::decide`] refuses a release that would go over the budget.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// The largest ε accepted; at 100 the noise is already zero but once in
/// 10^43 draws.
pub const MAX_EPSILON: f64 = 100.0;
/// The largest sensitivity accepted.
pub const MAX_SENSITIVITY: u64 = 1_000_000;

/// Relative slack of [`Budget::decide`], so that `0.1 + 0.2` fits in a
/// budget of `0.3` despite binary rounding; it lets a week overspend by at
/// most a billionth of its budget.
pub const BUDGET_SLACK: f64 = 1e-9;

/// Invalid parameters, or a failing operating-system generator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DpError {
    #[error("epsilon must be a number in (0, 100], got {0}")]
    Epsilon(f64),
    #[error("sensitivity must be in 1..=1000000, got {0}")]
    Sensitivity(u64),
    #[error("the privacy budget per group and week must be a positive finite number, got {0}")]
    Budget(f64),
    #[error("the operating system's random generator failed")]
    Randomness,
}

/// Uniform random 64-bit words. Noise is only as private as this source is
/// unpredictable: use [`OsRandom`] for releases; seeded generators are for
/// tests.
pub trait RandomSource {
    fn next_u64(&mut self) -> u64;
}

/// The operating system's generator (through `ring`), read 512 bytes at a
/// time to keep system calls rare.
///
/// # Panics
/// [`RandomSource::next_u64`] panics if the operating system stops providing
/// randomness after [`OsRandom::new`] succeeded: publishing without noise is
/// not an option, and ring reports no recoverable cause.
pub struct OsRandom {
    system: SystemRandom,
    buffer: [u8; OS_BUFFER_BYTES],
    used: usize,
}

const OS_BUFFER_BYTES: usize = 512;

impl OsRandom {
    /// Reads a first buffer, so that a broken generator shows here.
    ///
    /// # Errors
    /// [`DpError::Randomness`] when the operating system gives no randomness.
    pub fn new() -> Result<Self, DpError> {
        let mut random = Self {
            system: SystemRandom::new(),
            buffer: [0; OS_BUFFER_BYTES],
            used: 0,
        };
        random.refill()?;
        Ok(random)
    }

    fn refill(&mut self) -> Result<(), DpError> {
        self.system
            .fill(&mut self.buffer)
            .map_err(|_| DpError::Randomness)?;
        self.used = 0;
        Ok(())
    }
}

impl fmt::Debug for OsRandom {
    // The buffered bytes are future noise: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsRandom").finish_non_exhaustive()
    }
}

impl RandomSource for OsRandom {
    fn next_u64(&mut self) -> u64 {
        if self.used + 8 > OS_BUFFER_BYTES {
            self.refill()
                .expect("the operating system's random generator works");
        }
        let mut word = [0; 8];
        word.copy_from_slice(&self.buffer[self.used..self.used + 8]);
        // Used bytes are not kept around.
        self.buffer[self.used..self.used + 8].fill(0);
        self.used += 8;
        u64::from_le_bytes(word)
    }
}

/// `SplitMix64` (Steele, Lea and Flood): reproducible draws for statistical
/// tests, so that what they check does not depend on luck. Never for
/// releases.
#[cfg(test)]
pub(crate) struct SplitMix64(pub(crate) u64);

#[cfg(test)]
impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The discrete Laplace mechanism for a privacy parameter ε and a
/// sensitivity Δ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mechanism {
    epsilon: f64,
    sensitivity: u64,
    rate: Rate,
}

impl Mechanism {
    /// # Errors
    /// [`DpError::Epsilon`] unless `0 < epsilon ≤ 100`;
    /// [`DpError::Sensitivity`] unless `1 ≤ sensitivity ≤ 1 000 000`.
    pub fn new(epsilon: f64, sensitivity: u64) -> Result<Self, DpError> {
        // Written so that NaN is refused too.
        if !(epsilon > 0.0 && epsilon <= MAX_EPSILON) {
            return Err(DpError::Epsilon(epsilon));
        }
        if !(1..=MAX_SENSITIVITY).contains(&sensitivity) {
            return Err(DpError::Sensitivity(sensitivity));
        }
        Ok(Self {
            epsilon,
            sensitivity,
            rate: Rate::new(epsilon, sensitivity),
        })
    }

    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    pub fn sensitivity(&self) -> u64 {
        self.sensitivity
    }

    /// `γ = ε/Δ`, rounded to `f64` (for the formulas, not for sampling).
    fn gamma(&self) -> f64 {
        // Δ ≤ 1 000 000 always fits in a u32, exactly.
        let sensitivity = u32::try_from(self.sensitivity).map_or(f64::INFINITY, f64::from);
        self.epsilon / sensitivity
    }

    /// `α = exp(−ε/Δ)`, the ratio of the probabilities of `z + 1` and `z`.
    pub fn alpha(&self) -> f64 {
        (-self.gamma()).exp()
    }

    /// The variance of the noise, `2α / (1 − α)²`.
    pub fn variance(&self) -> f64 {
        // Same value, without the cancellation of 1 − α for small ε.
        0.5 / (self.gamma() / 2.0).sinh().powi(2)
    }

    /// `P(Z = z)`, to `f64` precision.
    pub fn pmf(&self, z: i64) -> f64 {
        let gamma = self.gamma();
        // (1 − α)/(1 + α) = tanh(γ/2), accurate even for small γ. Above
        // 2^53 the rounding of |z| is far below what α^|z| can show.
        #[allow(clippy::cast_precision_loss)]
        let distance = z.unsigned_abs() as f64;
        (gamma / 2.0).tanh() * (-gamma * distance).exp()
    }

    /// A draw of the noise `Z`, saturated to the `i64` range.
    pub fn noise<R: RandomSource + ?Sized>(&self, rng: &mut R) -> i64 {
        match self.sample(rng) {
            Noise::Exact(z) => i64::try_from(z).unwrap_or(if z < 0 { i64::MIN } else { i64::MAX }),
            Noise::Above => i64::MAX,
            Noise::Below => i64::MIN,
        }
    }

    /// `value + Z`, saturated to the `i64` range. The saturation applies to
    /// the exact sum (not to `Z` first), so it is a post-processing of the
    /// mechanism's output.
    pub fn release<R: RandomSource + ?Sized>(&self, value: i64, rng: &mut R) -> i64 {
        match self.sample(rng) {
            Noise::Exact(z) => {
                let sum = i128::from(value) + z;
                i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
            }
            // |Z| ≥ 2^64: the sum is out of the i64 range whatever the value.
            Noise::Above => i64::MAX,
            Noise::Below => i64::MIN,
        }
    }

    fn sample<R: RandomSource + ?Sized>(&self, rng: &mut R) -> Noise {
        let mut bits = Bits::new(rng);
        loop {
            let negative = bits.bit();
            let magnitude = self.magnitude(&mut bits);
            match (negative, magnitude) {
                // Zero would otherwise come out twice as often as it should.
                (true, Some(0)) => {}
                (false, Some(y)) => return Noise::Exact(i128::from(y)),
                (true, Some(y)) => return Noise::Exact(-i128::from(y)),
                (false, None) => return Noise::Above,
                (true, None) => return Noise::Below,
            }
        }
    }

    /// `Y ~ Geometric(α)` from its independent binary digits; `None` when
    /// `Y ≥ 2^64`.
    fn magnitude<R: RandomSource + ?Sized>(&self, bits: &mut Bits<'_, R>) -> Option<u64> {
        // Some digit at or above 64 is set with probability α^(2^64).
        if bits.bernoulli_exp_neg(self.rate.scaled(64)) {
            return None;
        }
        let mut y = 0;
        for i in 0..self.rate.low_digits {
            if bits.bernoulli_logistic(self.rate.scaled(i)) {
                y |= 1 << i;
            }
        }
        let j = self.rate.low_digits;
        if j < 64 {
            // ⌊Y / 2^j⌋ is geometric with ratio e^(−γ·2^j); only its digits
            // below 64 − j are wanted, which the shift keeps.
            let step = self.rate.scaled(j);
            let mut high: u64 = 0;
            while bits.bernoulli_exp_neg(step) {
                high = high.wrapping_add(1);
            }
            y |= high << j;
        }
        Some(y)
    }
}

enum Noise {
    Exact(i128),
    /// `Z ≥ 2^64`.
    Above,
    /// `Z ≤ −2^64`.
    Below,
}

/// `γ = ε/Δ` as `mantissa · 2^exponent / denominator` in lowest terms
/// (odd mantissa and denominator, coprime), so that equal ratios sample
/// identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    mantissa: u64,
    exponent: i32,
    denominator: u64,
    /// The binary digits of `Y` drawn one by one: those with `γ·2^i < 1`
    /// (at most 64).
    low_digits: u32,
}

impl Rate {
    /// For a validated ε (finite, positive) and Δ (≥ 1).
    fn new(epsilon: f64, sensitivity: u64) -> Self {
        // ε = m · 2^e exactly, from the IEEE 754 fields.
        let bits = epsilon.to_bits();
        let fraction = bits & ((1 << 52) - 1);
        // An 11-bit field always fits.
        let biased = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
        let (mut mantissa, mut exponent) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), biased - 1075)
        };
        let zeros = mantissa.trailing_zeros();
        mantissa >>= zeros;
        exponent = exponent.saturating_add_unsigned(zeros);

        let zeros = sensitivity.trailing_zeros();
        let mut denominator = sensitivity >> zeros;
        exponent = exponent.saturating_sub_unsigned(zeros);
        let common = gcd(mantissa, denominator);
        mantissa /= common;
        denominator /= common;

        let mut rate = Self {
            mantissa,
            exponent,
            denominator,
            low_digits: 64,
        };
        rate.low_digits = (0..64)
            .find(|&i| rate.scaled(i).split().0 >= 1)
            .unwrap_or(64);
        rate
    }

    /// `γ · 2^i` exactly. With γ ≤ 100 and i ≤ 64 the numerator stays below
    /// 2^91.
    fn scaled(&self, i: u32) -> Ratio {
        let power = self.exponent.saturating_add_unsigned(i);
        let (numerator, shift) = if power >= 0 {
            (u128::from(self.mantissa) << power.unsigned_abs(), 0)
        } else {
            (u128::from(self.mantissa), power.unsigned_abs())
        };
        Ratio {
            numerator,
            denominator: self.denominator,
            shift,
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The non-negative rational `numerator / (denominator · 2^shift)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ratio {
    numerator: u128,
    denominator: u64,
    shift: u32,
}

impl Ratio {
    const ONE: Self = Self {
        numerator: 1,
        denominator: 1,
        shift: 0,
    };

    /// `k` times this ratio; saturated (to about 2^128 / (denominator ·
    /// 2^shift)), where `e^(−x)` is zero to any precision anyway.
    fn times(self, k: u64) -> Self {
        Self {
            numerator: self.numerator.saturating_mul(u128::from(k)),
            ..self
        }
    }

    /// `numerator` as `high · 2^shift + low` with `low < 2^shift`.
    fn halves(&self) -> (u128, u128) {
        if self.shift >= 128 {
            (0, self.numerator)
        } else {
            let low = self.numerator & ((1 << self.shift) - 1);
            (self.numerator >> self.shift, low)
        }
    }

    /// The integer and fractional parts.
    fn split(&self) -> (u128, Self) {
        let (high, low) = self.halves();
        let denominator = u128::from(self.denominator);
        let whole = high / denominator;
        // At most the numerator, so no overflow; shift < 128 when high > 0.
        let rest = if high == 0 {
            low
        } else {
            ((high % denominator) << self.shift) | low
        };
        (
            whole,
            Self {
                numerator: rest,
                ..*self
            },
        )
    }
}

/// Bits taken from a [`RandomSource`] as needed, so that a coin flip costs
/// one bit rather than a word.
struct Bits<'a, R: RandomSource + ?Sized> {
    rng: &'a mut R,
    word: u64,
    left: u32,
}

impl<'a, R: RandomSource + ?Sized> Bits<'a, R> {
    fn new(rng: &'a mut R) -> Self {
        Self {
            rng,
            word: 0,
            left: 0,
        }
    }

    fn bit(&mut self) -> bool {
        self.take(1) == 1
    }

    /// `k ≤ 64` uniform bits.
    fn take(&mut self, k: u32) -> u64 {
        if k <= self.left {
            let value = self.word & low_mask(k);
            self.word = self.word.checked_shr(k).unwrap_or(0);
            self.left -= k;
            return value;
        }
        // The bits left (the word holds nothing above them), then fresh ones.
        let have = self.left;
        let need = k - have;
        let fresh = self.rng.next_u64();
        let value = self.word | ((fresh & low_mask(need)) << have);
        self.word = fresh.checked_shr(need).unwrap_or(0);
        self.left = 64 - need;
        value
    }

    /// `k ≤ 128` uniform bits.
    fn take_wide(&mut self, k: u32) -> u128 {
        let low = k.min(64);
        let value = u128::from(self.take(low));
        value | (u128::from(self.take(k - low)) << low)
    }

    /// Uniform in `[0, n)`, by rejection (fewer than two tries on average).
    fn below(&mut self, n: u128) -> u128 {
        if n <= 1 {
            return 0;
        }
        let width = 128 - (n - 1).leading_zeros();
        loop {
            let value = self.take_wide(width);
            if value < n {
                return value;
            }
        }
    }

    /// Whether a uniform `width`-bit integer is below `bound`.
    fn uniform_below(&mut self, width: u32, bound: u128) -> bool {
        // Above 128 bits, any set high bit makes it ≥ 2^128 > bound; most
        // of the time the first word settles it.
        let mut width = width;
        while width > 128 {
            let chunk = (width - 128).min(64);
            if self.take(chunk) != 0 {
                return false;
            }
            width -= chunk;
        }
        self.take_wide(width) < bound
    }

    /// `Bernoulli(x / k)` for `0 ≤ x ≤ 1`, `k ≥ 1`: whether a uniform integer
    /// below `k · denominator · 2^shift` is below the numerator of `x`.
    fn bernoulli_ratio(&mut self, x: Ratio, k: u64) -> bool {
        if x.numerator == 0 {
            return false;
        }
        let (high, low) = x.halves();
        let scale = u128::from(x.denominator) * u128::from(k);
        if high >= scale {
            return true;
        }
        // The uniform integer's high part (above 2^shift) is uniform below
        // `scale`, its low part independent and uniform on `shift` bits.
        let drawn = self.below(scale);
        match drawn.cmp(&high) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => self.uniform_below(x.shift, low),
        }
    }

    /// `Bernoulli(e^(−x))` for `0 ≤ x ≤ 1` (Canonne, Kamath and Steinke,
    /// algorithm 1): the first `K` with a failed `Bernoulli(x / K)` is odd
    /// with probability `Σ (−x)^n / n! = e^(−x)`.
    fn bernoulli_exp_neg_fraction(&mut self, x: Ratio) -> bool {
        let mut k: u64 = 1;
        while self.bernoulli_ratio(x, k) {
            k = k.saturating_add(1);
        }
        k % 2 == 1
    }

    /// `Bernoulli(e^(−x))` for `x ≥ 0`, as `e^(−1)` for each unit of `x`
    /// and `e^(−fraction)`; it stops at the first failure, so even a huge
    /// `x` takes 1.6 draws on average.
    fn bernoulli_exp_neg(&mut self, x: Ratio) -> bool {
        let (whole, fraction) = x.split();
        let mut done: u128 = 0;
        while done < whole {
            if !self.bernoulli_exp_neg_fraction(Ratio::ONE) {
                return false;
            }
            done += 1;
        }
        self.bernoulli_exp_neg_fraction(fraction)
    }

    /// `Bernoulli(1 / (1 + e^x))`: a fair coin picks "1, kept with
    /// probability e^(−x)" or "0"; a rejected 1 starts over, so
    /// `P(1) = (e^(−x)/2) / (e^(−x)/2 + 1/2)`.
    fn bernoulli_logistic(&mut self, x: Ratio) -> bool {
        loop {
            if !self.bit() {
                return false;
            }
            if self.bernoulli_exp_neg(x) {
                return true;
            }
        }
    }
}

fn low_mask(k: u32) -> u64 {
    1u64.checked_shl(k).map_or(u64::MAX, |bit| bit - 1)
}

/// The public grid a quantile is released on: `0, step, 2·step, …,
/// steps·step`. Values outside it are clipped to it first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub step: f64,
    pub steps: u32,
}

impl Grid {
    /// The grid's largest value.
    #[must_use]
    pub fn max(&self) -> f64 {
        self.step * f64::from(self.steps)
    }
}

/// The exponential mechanism for a quantile (McSherry and Talwar, 2007, as
/// applied to quantiles by Smith, 2011), on a public grid.
///
/// Each grid point `c` scores `u(c) = −|#{x ≤ c} − ⌈q·n⌉|`: how many people
/// stand between it and the quantile's rank. Adding or removing one person
/// changes `#{x ≤ c}` and `⌈q·n⌉` by at most one each, in the same
/// direction, so `u` has sensitivity 1, and drawing `c` with probability
/// proportional to `exp(ε·u(c)/2)` is ε-differentially private. What is
/// released is a grid point, so the output's precision is the grid's.
///
/// Drawn exactly, as the discrete Laplace mechanism is: a grid point is
/// proposed uniformly and kept with probability `exp(−ε/2 · (|d| − d₀))`
/// (`d₀` the smallest distance, which only scales all weights alike), the
/// exponential decided by [`Bits::bernoulli_exp_neg`] on an exact
/// rational; at most `steps + 1` proposals on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileMechanism {
    epsilon: f64,
    /// `ε/2`.
    rate: Rate,
}

impl QuantileMechanism {
    /// # Errors
    /// [`DpError::Epsilon`] unless `0 < epsilon ≤ 100`.
    pub fn new(epsilon: f64) -> Result<Self, DpError> {
        if !(epsilon > 0.0 && epsilon <= MAX_EPSILON) {
            return Err(DpError::Epsilon(epsilon));
        }
        Ok(Self {
            epsilon,
            rate: Rate::new(epsilon, 2),
        })
    }

    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The `q` quantile (`0 < q ≤ 1`) of `values` on `grid`; `None` when
    /// there is no value.
    pub fn release<R: RandomSource + ?Sized>(
        &self,
        values: &[f64],
        q: f64,
        grid: Grid,
        rng: &mut R,
    ) -> Option<f64> {
        let distances = rank_distances(values, q, grid)?;
        let nearest = distances.iter().copied().min().unwrap_or(0);
        let mut bits = Bits::new(rng);
        let gamma = self.rate.scaled(0);
        loop {
            let proposed = bits.below(u128::from(grid.steps) + 1);
            // Below `steps + 1`, which is a u32.
            let index = usize::try_from(proposed).unwrap_or(0);
            let excess = distances[index] - nearest;
            if excess == 0 || bits.bernoulli_exp_neg(gamma.times(excess)) {
                return Some(grid.step * f64::from(u32::try_from(proposed).unwrap_or(0)));
            }
        }
    }
}

/// For each grid point `c`, `|#{x ≤ c} − ⌈q·n⌉|` with the values clipped to
/// the grid; `None` without values.
fn rank_distances(values: &[f64], q: f64, grid: Grid) -> Option<Vec<u64>> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values
        .iter()
        .map(|v| {
            if v.is_nan() {
                0.0
            } else {
                v.clamp(0.0, grid.max())
            }
        })
        .collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as u64;
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let target = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
    let mut below = 0_usize;
    Some(
        (0..=grid.steps)
            .map(|j| {
                let point = grid.step * f64::from(j);
                while below < sorted.len() && sorted[below] <= point {
                    below += 1;
                }
                (below as u64).abs_diff(target)
            })
            .collect(),
    )
}

/// The ε budget of one (group, week), spent by sequential composition: a
/// release needing ε is allowed when `spent + ε ≤ budget` (up to
/// [`BUDGET_SLACK`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    per_group_week: f64,
}

/// What [`Budget::decide`] says about a release.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Release; `remaining` is the ε left once it is spent.
    Release { remaining: f64 },
    /// Do not release: it needs more than the `remaining` ε.
    Refuse { remaining: f64 },
}

impl Decision {
    pub fn is_release(&self) -> bool {
        matches!(self, Self::Release { .. })
    }

    pub fn remaining(&self) -> f64 {
        match *self {
            Self::Release { remaining } | Self::Refuse { remaining } => remaining,
        }
    }
}

impl Budget {
    /// # Errors
    /// [`DpError::Budget`] unless the budget is positive and finite.
    pub fn new(per_group_week: f64) -> Result<Self, DpError> {
        if per_group_week > 0.0 && per_group_week.is_finite() {
            Ok(Self { per_group_week })
        } else {
            Err(DpError::Budget(per_group_week))
        }
    }

    pub fn per_group_week(&self) -> f64 {
        self.per_group_week
    }

    /// Whether a group that already spent `spent` this week may release
    /// with `cost` (its ε). Fails closed: an invalid `spent` (negative, NaN,
    /// infinite) counts as exhausted, an invalid `cost` (not positive, NaN,
    /// infinite) is refused.
    pub fn decide(&self, spent: f64, cost: f64) -> Decision {
        let budget = self.per_group_week;
        if !(spent >= 0.0 && spent.is_finite()) {
            return Decision::Refuse { remaining: 0.0 };
        }
        let remaining = (budget - spent).max(0.0);
        if !(cost > 0.0 && cost.is_finite()) {
            return Decision::Refuse { remaining };
        }
        if spent + cost <= budget + budget * BUDGET_SLACK {
            Decision::Release {
                remaining: (budget - spent - cost).max(0.0),
            }
        } else {
            Decision::Refuse { remaining }
        }
    }
}

#[cfg(test)]
// Exact float comparisons are intended where the values are exact.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    const SAMPLES: usize = 200_000;

    /// The exponential mechanism's probabilities, from its definition.
    fn quantile_probabilities(values: &[f64], q: f64, grid: Grid, epsilon: f64) -> Vec<f64> {
        let distances = rank_distances(values, q, grid).unwrap();
        #[allow(clippy::cast_precision_loss)]
        let weights: Vec<f64> = distances
            .iter()
            .map(|d| (-epsilon / 2.0 * *d as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        weights.iter().map(|w| w / total).collect()
    }

    const GRID: Grid = Grid {
        step: 0.5,
        steps: 20,
    };

    #[test]
    fn noisy_quantiles_follow_the_exponential_mechanism() {
        let values = [1.0, 2.5, 2.5, 4.0, 7.0, 9.5, 30.0];
        for (epsilon, q, seed) in [(1.0, 0.5, 11), (0.3, 0.9, 12), (4.0, 0.5, 13)] {
            let mechanism = QuantileMechanism::new(epsilon).unwrap();
            let expected = quantile_probabilities(&values, q, GRID, epsilon);
            let mut observed = vec![0_usize; expected.len()];
            let mut rng = SplitMix64(seed);
            let draws = 50_000;
            for _ in 0..draws {
                let value = mechanism.release(&values, q, GRID, &mut rng).unwrap();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let index = (value / GRID.step).round() as usize;
                observed[index] += 1;
            }
            // χ² over the bins expecting at least 5, the rest pooled.
            let n = as_f64(draws);
            let (mut statistic, mut dof, mut pooled_expected, mut pooled_observed) =
                (0.0, 0.0, 0.0, 0.0);
            for (p, count) in expected.iter().zip(&observed) {
                if n * p >= 5.0 {
                    statistic += (as_f64(*count) - n * p).powi(2) / (n * p);
                    dof += 1.0;
                } else {
                    pooled_expected += n * p;
                    pooled_observed += as_f64(*count);
                }
            }
            if pooled_expected >= 5.0 {
                statistic += (pooled_observed - pooled_expected).powi(2) / pooled_expected;
                dof += 1.0;
            }
            let limit = chi_squared_999(dof - 1.0);
            assert!(
                statistic < limit,
                "ε {epsilon}, q {q}: χ² {statistic} over {dof} bins, limit {limit}"
            );
        }
    }

    #[test]
    fn one_person_more_or_less_moves_each_probability_by_at_most_e_to_the_epsilon() {
        let epsilon = 0.8;
        let base = [0.0, 1.0, 3.5, 3.5, 6.0, 8.0, 10.0, 12.0, 40.0];
        for q in [0.5, 0.9] {
            let with = quantile_probabilities(&base, q, GRID, epsilon);
            for removed in 0..base.len() {
                let mut neighbour = base.to_vec();
                neighbour.remove(removed);
                let without = quantile_probabilities(&neighbour, q, GRID, epsilon);
                for (a, b) in with.iter().zip(&without) {
                    let ratio = (a / b).max(b / a);
                    assert!(ratio <= epsilon.exp() * (1.0 + 1e-12), "q {q}: {ratio}");
                }
            }
        }
    }

    #[test]
    fn a_large_epsilon_gives_the_grid_quantile_and_no_value_gives_none() {
        let mechanism = QuantileMechanism::new(100.0).unwrap();
        let mut rng = SplitMix64(5);
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        // Five people at or below any point of [5, 6): each is the median;
        // nine at or below any point of [9, 10): the 90th percentile.
        for _ in 0..20 {
            let median = mechanism.release(&values, 0.5, GRID, &mut rng).unwrap();
            assert!([5.0, 5.5].contains(&median), "{median}");
            let p90 = mechanism.release(&values, 0.9, GRID, &mut rng).unwrap();
            assert!([9.0, 9.5].contains(&p90), "{p90}");
        }
        // Clipped to the grid: 40 h counts as its top, 10 h.
        assert_eq!(mechanism.release(&[40.0], 0.5, GRID, &mut rng), Some(10.0));
        assert_eq!(mechanism.release(&[], 0.5, GRID, &mut rng), None);
        assert!(QuantileMechanism::new(0.0).is_err());
        assert!(QuantileMechanism::new(f64::NAN).is_err());
    }

    /// The 0.999 quantile of χ² with `dof` degrees of freedom
    /// (Wilson–Hilferty).
    fn chi_squared_999(dof: f64) -> f64 {
        const Z_999: f64 = 3.090_232_306_167_813;
        let h = 2.0 / (9.0 * dof);
        dof * (1.0 - h + Z_999 * h.sqrt()).powi(3)
    }

    #[allow(clippy::cast_precision_loss)]
    fn as_f64(n: usize) -> f64 {
        n as f64
    }

    /// `P(Z > b)`.
    fn upper_tail(mechanism: &Mechanism, b: i64) -> f64 {
        mechanism.pmf(b + 1) / (1.0 - mechanism.alpha())
    }

    /// The fourth moment, summed from the pmf.
    fn fourth_moment(mechanism: &Mechanism) -> f64 {
        let mut sum = 0.0;
        for z in 1..100_000_i64 {
            #[allow(clippy::cast_precision_loss)]
            let term = 2.0 * mechanism.pmf(z) * (z as f64).powi(4);
            sum += term;
            if term < 1e-12 * sum {
                break;
            }
        }
        sum
    }

    /// χ² goodness of fit over `|z| ≤ b` and the two pooled tails (`b` the
    /// largest with at least 5 expected in every bin), then the mean and
    /// variance within four standard errors.
    fn check_distribution(mechanism: &Mechanism, seed: u64) {
        let n = as_f64(SAMPLES);
        let mut b: i64 = 0;
        while n * mechanism.pmf(b + 1) >= 5.0 && n * upper_tail(mechanism, b + 1) >= 5.0 {
            b += 1;
        }
        let width = usize::try_from(2 * b + 3).unwrap();
        let mut observed = vec![0_usize; width];
        let mut rng = SplitMix64(seed);
        let (mut sum, mut sum_squares) = (0.0, 0.0);
        for _ in 0..SAMPLES {
            let z = mechanism.noise(&mut rng);
            let bin = z.clamp(-b - 1, b + 1) + b + 1;
            observed[usize::try_from(bin).unwrap()] += 1;
            #[allow(clippy::cast_precision_loss)]
            let z = z as f64;
            sum += z;
            sum_squares += z * z;
        }

        let mut statistic = 0.0;
        for (bin, &count) in observed.iter().enumerate() {
            let z = i64::try_from(bin).unwrap() - b - 1;
            let p = if z.abs() > b {
                upper_tail(mechanism, b)
            } else {
                mechanism.pmf(z)
            };
            let expected = n * p;
            statistic += (as_f64(count) - expected).powi(2) / expected;
        }
        let dof = as_f64(width - 1);
        let limit = chi_squared_999(dof);
        assert!(
            statistic < limit,
            "{mechanism:?}: χ² = {statistic:.1} over {dof} degrees of freedom, limit {limit:.1}"
        );

        let variance = mechanism.variance();
        let mean = sum / n;
        let mean_error = (variance / n).sqrt();
        assert!(
            mean.abs() < 4.0 * mean_error,
            "{mechanism:?}: mean {mean}, standard error {mean_error}"
        );
        let sample_variance = (sum_squares - n * mean * mean) / (n - 1.0);
        let variance_error = ((fourth_moment(mechanism) - variance * variance) / n).sqrt();
        assert!(
            (sample_variance - variance).abs() < 4.0 * variance_error,
            "{mechanism:?}: variance {sample_variance}, expected {variance} ± {variance_error}"
        );
    }

    #[test]
    fn distribution_matches_pmf_epsilon_0_1() {
        check_distribution(&Mechanism::new(0.1, 1).unwrap(), 1);
    }

    #[test]
    fn distribution_matches_pmf_epsilon_1() {
        check_distribution(&Mechanism::new(1.0, 1).unwrap(), 2);
    }

    #[test]
    fn distribution_matches_pmf_epsilon_3() {
        check_distribution(&Mechanism::new(3.0, 1).unwrap(), 3);
    }

    /// ε/Δ = 1/3 is not a binary fraction: the odd denominator path.
    #[test]
    fn distribution_matches_pmf_sensitivity_3() {
        check_distribution(&Mechanism::new(1.0, 3).unwrap(), 4);
    }

    #[test]
    fn pmf_sums_to_one_with_the_stated_variance() {
        for epsilon in [0.05, 0.1, 1.0, 3.0, 20.0] {
            let mechanism = Mechanism::new(epsilon, 1).unwrap();
            let (mut total, mut second) = (mechanism.pmf(0), 0.0);
            for z in 1..20_000_i64 {
                total += 2.0 * mechanism.pmf(z);
                #[allow(clippy::cast_precision_loss)]
                let square = (z * z) as f64;
                second += 2.0 * mechanism.pmf(z) * square;
            }
            assert!((total - 1.0).abs() < 1e-9, "ε = {epsilon}: total {total}");
            let variance = mechanism.variance();
            assert!(
                (second - variance).abs() < 1e-9 * variance,
                "ε = {epsilon}: {second} vs {variance}"
            );
            let alpha = mechanism.alpha();
            let textbook = 2.0 * alpha / (1.0 - alpha).powi(2);
            assert!((textbook - variance).abs() < 1e-9 * variance);
            assert!((mechanism.pmf(1) / mechanism.pmf(0) - alpha).abs() < 1e-12);
        }
    }

    #[test]
    fn noise_is_symmetric() {
        let mechanism = Mechanism::new(0.5, 1).unwrap();
        for z in 0..50 {
            assert_eq!(mechanism.pmf(z), mechanism.pmf(-z));
        }
        let mut rng = SplitMix64(5);
        let mut counts = [0_i64; 2 * 8 + 1];
        let (mut positive, mut negative) = (0_i64, 0_i64);
        for _ in 0..50_000 {
            let z = mechanism.noise(&mut rng);
            match z.signum() {
                1 => positive += 1,
                -1 => negative += 1,
                _ => {}
            }
            if z.abs() <= 8 {
                counts[usize::try_from(z + 8).unwrap()] += 1;
            }
        }
        // Under symmetry, each split is a fair binomial: within 4 σ.
        #[allow(clippy::cast_precision_loss)]
        let balanced = |a: i64, b: i64| ((a - b).abs() as f64) < 4.0 * ((a + b) as f64).sqrt();
        assert!(balanced(positive, negative), "{positive} vs {negative}");
        for z in 1..=8_usize {
            let (up, down) = (counts[8 + z], counts[8 - z]);
            assert!(balanced(up, down), "z = ±{z}: {up} vs {down}");
        }
    }

    /// The noise depends on ε/Δ only: Δ = 2 at ε is Δ = 1 at ε/2, draw for
    /// draw with the same random bits.
    #[test]
    fn sensitivity_scales_epsilon() {
        for (epsilon, sensitivity, same_epsilon) in [
            (1.0, 2, 0.5),
            (1.5, 3, 0.5),
            (0.3, 2, 0.15),
            (64.0, 1024, 0.0625),
        ] {
            let scaled = Mechanism::new(epsilon, sensitivity).unwrap();
            let unit = Mechanism::new(same_epsilon, 1).unwrap();
            for z in -40..=40 {
                let (a, b) = (scaled.pmf(z), unit.pmf(z));
                assert!((a - b).abs() <= 1e-15 * b, "z = {z}: {a} vs {b}");
            }
            let (mut first, mut second) = (SplitMix64(6), SplitMix64(6));
            for _ in 0..5_000 {
                assert_eq!(scaled.noise(&mut first), unit.noise(&mut second));
            }
        }
    }

    #[test]
    fn invalid_parameters_are_refused() {
        for epsilon in [
            0.0,
            -0.0,
            -1.0,
            100.000_001,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(
                matches!(Mechanism::new(epsilon, 1), Err(DpError::Epsilon(_))),
                "ε = {epsilon}"
            );
        }
        for sensitivity in [0, MAX_SENSITIVITY + 1, u64::MAX] {
            assert_eq!(
                Mechanism::new(1.0, sensitivity),
                Err(DpError::Sensitivity(sensitivity))
            );
        }
        for epsilon in [MAX_EPSILON, f64::MIN_POSITIVE, 5e-324] {
            for sensitivity in [1, MAX_SENSITIVITY] {
                assert!(Mechanism::new(epsilon, sensitivity).is_ok());
            }
        }
    }

    /// The extremes of the accepted range end quickly and saturate where
    /// the noise exceeds an i64.
    #[test]
    fn extreme_parameters_terminate() {
        let mut rng = SplitMix64(7);
        // ε/Δ = 100: α ≈ 4e−44, the noise is zero.
        let sharp = Mechanism::new(MAX_EPSILON, 1).unwrap();
        for _ in 0..1_000 {
            assert_eq!(sharp.release(42, &mut rng), 42);
        }
        // Scale 1e18: still an i64, rarely saturated.
        let wide = Mechanism::new(1e-12, MAX_SENSITIVITY).unwrap();
        let mut saturated = 0;
        let mut magnitudes = Vec::new();
        for _ in 0..1_000 {
            let z = wide.noise(&mut rng);
            if z == i64::MAX || z == i64::MIN {
                saturated += 1;
            }
            magnitudes.push(z.unsigned_abs());
        }
        magnitudes.sort_unstable();
        // The median of |Z| is about ln 2 · Δ/ε ≈ 6.9e17.
        let median = magnitudes[500];
        assert!(
            (100_000_000_000_000_000..5_000_000_000_000_000_000).contains(&median),
            "median {median}"
        );
        assert!(saturated < 20, "{saturated} saturated");
        // Far beyond an i64: saturated, without overflow in the release.
        for epsilon in [5e-324, 1e-300, 1e-30] {
            let flat = Mechanism::new(epsilon, MAX_SENSITIVITY).unwrap();
            for _ in 0..200 {
                let z = flat.noise(&mut rng);
                assert!(z == i64::MAX || z == i64::MIN, "ε = {epsilon}: {z}");
                let released = flat.release(i64::MAX, &mut rng);
                assert!(released == i64::MAX || released == i64::MIN);
            }
        }
    }

    #[test]
    fn release_adds_the_noise() {
        let mechanism = Mechanism::new(0.7, 2).unwrap();
        let (mut first, mut second) = (SplitMix64(8), SplitMix64(8));
        for value in [0, 5, -3, 1_000_000] {
            for _ in 0..100 {
                assert_eq!(
                    mechanism.release(value, &mut first),
                    value + mechanism.noise(&mut second)
                );
            }
        }
        // Saturates on the exact sum, not on the noise.
        let mut rng = SplitMix64(9);
        for _ in 0..100 {
            assert!(mechanism.release(i64::MAX, &mut rng) > i64::MAX - 100);
            assert!(mechanism.release(i64::MIN, &mut rng) < i64::MIN + 100);
        }
    }

    #[test]
    fn budget_allows_until_spent() {
        assert!(matches!(Budget::new(0.0), Err(DpError::Budget(_))));
        assert!(matches!(Budget::new(-1.0), Err(DpError::Budget(_))));
        assert!(matches!(Budget::new(f64::NAN), Err(DpError::Budget(_))));
        assert!(matches!(
            Budget::new(f64::INFINITY),
            Err(DpError::Budget(_))
        ));

        let budget = Budget::new(1.0).unwrap();
        assert_eq!(budget.per_group_week(), 1.0);
        assert_eq!(
            budget.decide(0.0, 0.25),
            Decision::Release { remaining: 0.75 }
        );
        assert_eq!(
            budget.decide(0.75, 0.25),
            Decision::Release { remaining: 0.0 }
        );
        assert_eq!(
            budget.decide(0.75, 0.5),
            Decision::Refuse { remaining: 0.25 }
        );
        assert_eq!(budget.decide(1.0, 0.1), Decision::Refuse { remaining: 0.0 });
        assert_eq!(budget.decide(2.0, 0.1), Decision::Refuse { remaining: 0.0 });

        // Ten releases of 0.1 fit in 1.0, an eleventh does not.
        let mut spent = 0.0;
        for _ in 0..10 {
            let decision = budget.decide(spent, 0.1);
            assert!(decision.is_release(), "after {spent}");
            spent += 0.1;
        }
        assert!(!budget.decide(spent, 0.1).is_release());
        // Binary rounding does not refuse an exact fit.
        let tight = Budget::new(0.3).unwrap();
        assert!(tight.decide(0.1 + 0.1, 0.1).is_release());
        assert!(tight.decide(0.1, 0.2).is_release());
        assert!(!tight.decide(0.1, 0.2 + 1e-6).is_release());

        // Fails closed on nonsense.
        for spent in [-0.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                budget.decide(spent, 0.1),
                Decision::Refuse { remaining: 0.0 }
            );
        }
        for cost in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            let decision = budget.decide(0.5, cost);
            assert!(!decision.is_release(), "cost {cost}");
            assert_eq!(decision.remaining(), 0.5);
        }
    }

    #[test]
    fn os_random_differs_across_calls() {
        let mut os = OsRandom::new().unwrap();
        // More than one buffer, to go through a refill.
        let words: Vec<u64> = (0..200).map(|_| os.next_u64()).collect();
        let mut distinct = words.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), words.len());
        let mechanism = Mechanism::new(1.0, 1).unwrap();
        let draws: Vec<i64> = (0..100).map(|_| mechanism.noise(&mut os)).collect();
        assert!(draws.iter().any(|&z| z != draws[0]));
        assert!(!format!("{os:?}").contains('['));
    }
}
