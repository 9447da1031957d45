//! How the report writes times, rates, sizes and ratios.

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(crate) fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

/// A count with thousands separators: `50,000`.
pub(crate) fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn fmt_bytes(b: f64) -> String {
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1 << 20) as f64 {
        format!("{:.2} MiB", b / (1 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

pub(crate) fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// The spread of per-round ratios: quartiles, then the extremes.
pub(crate) fn fmt_spread(s: &benches::interleaved::Spread) -> String {
    let range = |lo: f64, hi: f64| {
        let lo = fmt_ratio(lo);
        format!("{}–{}", lo.trim_end_matches('×'), fmt_ratio(hi))
    };
    format!(
        "quartiles {}, all {}",
        range(s.q1, s.q3),
        range(s.min, s.max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_spreads() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(5_000), "5,000");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        let s = benches::interleaved::Spread::of(&[1.25, 1.5, 12.0]).expect("figures");
        assert_eq!(fmt_spread(&s), "quartiles 1.38–6.75×, all 1.25–12.0×");
    }
}
