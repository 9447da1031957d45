//! Latency percentiles of single round trips.
//!
//! Criterion reports the mean (and the median of per-sample means) of batches of round trips;
//! a p99 needs each round trip timed on its own. [`measure`] does that: it reads the monotonic
//! clock (`Instant`, vDSO `clock_gettime`, about 20 ns) before and after every round trip, so
//! each sample includes one clock read; samples are kept in full and sorted (no binning).

use std::time::{Duration, Instant};

use crate::roundtrip::RoundTrip;

/// Percentiles of a set of samples, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub n: usize,
    /// The mean.
    pub mean: f64,
    /// The median (p50).
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
    /// The largest sample.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of `samples` (nearest-rank on the sorted samples).
    ///
    /// # Panics
    ///
    /// If `samples` is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = benches::latency::Percentiles::of((1..=100).map(|n| n as f64).collect());
    /// assert_eq!((p.p50, p.p99, p.max), (50.0, 99.0, 100.0));
    /// ```
    pub fn of(mut samples: Vec<f64>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Percentiles {
            n,
            mean: samples.iter().sum::<f64>() / n as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            p999: rank(0.999),
            max: samples[n - 1],
        }
    }
}

/// Runs `warmup` untimed round trips, then `n` timed one by one (or fewer if `budget` runs
/// out first, but at least 1,000), and returns their percentiles.
pub fn measure(rt: &mut dyn RoundTrip, warmup: usize, n: usize, budget: Duration) -> Percentiles {
    Percentiles::of(samples(rt, warmup, n, budget))
}

/// [`measure`]'s samples (nanoseconds, in the order taken).
pub fn samples(rt: &mut dyn RoundTrip, warmup: usize, n: usize, budget: Duration) -> Vec<f64> {
    for _ in 0..warmup {
        rt.round_trip();
    }
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        rt.round_trip();
        samples.push(t.elapsed().as_nanos() as f64);
        if i >= 1000 && i % 1024 == 0 && start.elapsed() > budget {
            break;
        }
    }
    samples
}
