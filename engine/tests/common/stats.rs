//! Pearson's chi-square goodness-of-fit for the sampling tests: bins with an
//! expected count below 5 pooled; the critical value at p = 0.001 from the
//! Wilson–Hilferty approximation of the χ² quantile.
#![allow(dead_code)]

/// Pearson's statistic of `counts` against `probs` (normalized) and its
/// degrees of freedom.
pub fn pearson(counts: &[u64], probs: &[f32]) -> (f64, usize) {
    let n: u64 = counts.iter().sum();
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (expected, observed)
    let mut pooled = (0.0, 0.0);
    for (&c, &p) in counts.iter().zip(probs) {
        let expected = p as f64 * n as f64;
        assert!(p > 0.0 || c == 0, "drew a token of probability 0");
        if expected >= 5.0 {
            bins.push((expected, c as f64));
        } else {
            pooled = (pooled.0 + expected, pooled.1 + c as f64);
        }
    }
    if pooled.0 >= 5.0 {
        bins.push(pooled);
    } else if pooled.0 > 0.0 && !bins.is_empty() {
        let smallest = bins.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
        *smallest = (smallest.0 + pooled.0, smallest.1 + pooled.1);
    }
    let stat = bins.iter().map(|(e, o)| (o - e) * (o - e) / e).sum();
    (stat, bins.len().saturating_sub(1))
}

/// The χ²(df) quantile at p = 0.001: df·(1 − 2/(9df) + z·√(2/(9df)))³, z = Φ⁻¹(0.999).
pub fn critical(df: usize) -> f64 {
    let (k, z) = (df as f64, 3.090_232_306_167_813);
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// Asserts `counts` fit `probs` at p = 0.001, with at least 3 degrees of freedom.
pub fn assert_fits(name: &str, counts: &[u64], probs: &[f32]) {
    let (stat, df) = pearson(counts, probs);
    assert!(
        df >= 3,
        "{name}: too few bins for a test: {df} degrees of freedom"
    );
    let c = critical(df);
    println!("{name}: χ² = {stat:.1} with {df} df (critical {c:.1} at p = 0.001)");
    assert!(stat < c, "{name}: χ² = {stat:.1} ≥ {c:.1} ({df} df)");
}

/// Asserts `hits` successes in `n` trials fit probability `p` (|z| < 3.29, two-sided p = 0.001).
pub fn assert_binomial(name: &str, hits: u64, n: u64, p: f64) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    let z = (hits as f64 - mean) / sd;
    println!("{name}: {hits} of {n} (expected {mean:.0} ± {sd:.1}), z = {z:.2}");
    assert!(
        z.abs() < 3.29,
        "{name}: {hits} of {n}, expected {mean:.0}: z = {z:.2}"
    );
}
