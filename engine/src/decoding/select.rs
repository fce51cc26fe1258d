//! The selection rules every strategy shares, written once: the largest
//! values with the documented tie rule, the argmax, and the inverse-CDF draw.
//!
//! Ties: among equal values the lower index (token id) comes first, as
//! `torch.argmax` takes the first maximum. NaN ranks below every number (it is
//! never chosen while a number is left).

use std::cmp::Ordering;

/// The ranking rule: `(value, id)` pairs, the larger value first, the lower
/// id on ties, NaN after every number.
pub fn rank(a: (f32, usize), b: (f32, usize)) -> Ordering {
    let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
    key(b.0)
        .total_cmp(&key(a.0))
        .then(a.0.is_nan().cmp(&b.0.is_nan()))
        .then(a.1.cmp(&b.1))
}

/// [`rank`] of indices `a` and `b` of `values`.
pub fn by_value_then_index(values: &[f32], a: usize, b: usize) -> Ordering {
    rank((values[a], a), (values[b], b))
}

/// Indices of the `n` largest values, largest first, lower indices first on
/// ties (NaN last).
pub fn top_n(values: &[f32], n: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..values.len()).collect();
    let order = |a: &usize, b: &usize| by_value_then_index(values, *a, *b);
    if n < ids.len() {
        if n == 0 {
            return Vec::new();
        }
        ids.select_nth_unstable_by(n - 1, order);
        ids.truncate(n);
    }
    ids.sort_unstable_by(order);
    ids
}

/// Index of the largest value, the first one on ties (NaN skipped); 0 for an
/// empty or all-NaN slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best.unwrap_or(0)
}

/// The index that the uniform draw `u` ∈ [0, 1) picks from the weights by
/// inverse CDF, summed in f64: the first index whose cumulative weight
/// exceeds `u · total`. Weights that are not positive (NaN included) are never
/// picked; when `u · total` rounds up to the total, the last positive weight
/// is. `None` when no weight is positive.
pub fn inverse_cdf<I>(weights: I, u: f64) -> Option<usize>
where
    I: IntoIterator<Item = f64>,
    I::IntoIter: Clone,
{
    let weights = weights.into_iter();
    let positive = |p: f64| p > 0.0; // false for NaN too
    let total: f64 = weights.clone().filter(|&p| positive(p)).sum();
    if total <= 0.0 {
        return None;
    }
    let target = u * total;
    let (mut cumulative, mut last) = (0.0f64, None);
    for (i, p) in weights.enumerate() {
        if positive(p) {
            cumulative += p;
            last = Some(i);
            if cumulative > target {
                return last;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_come_first_lower_indices_first_on_ties_nan_last() {
        let v = [1.0, 3.0, f32::NAN, 3.0, f32::NEG_INFINITY, 2.0];
        assert_eq!(top_n(&v, 3), [1, 3, 5]);
        assert_eq!(top_n(&v, 10), [1, 3, 5, 0, 4, 2]);
        assert_eq!(top_n(&v, 0), Vec::<usize>::new());
        assert_eq!(argmax(&v), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5, 0.5]), 1);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn inverse_cdf_skips_weights_that_are_not_positive() {
        let w = [0.0, 0.25, f64::NAN, 0.75, -1.0];
        let pick = |u: f64| inverse_cdf(w, u);
        assert_eq!(pick(0.0), Some(1));
        assert_eq!(pick(0.2499), Some(1));
        assert_eq!(pick(0.25), Some(3));
        assert_eq!(pick(0.999_999_999), Some(3));
        assert_eq!(pick(1.0), Some(3));
        assert_eq!(inverse_cdf([0.0, f64::NAN], 0.5), None);
    }
}
