//! Figures that compare generated texts: the mean log-probability of the
//! chosen tokens under the model, distinct-2 (Li et al. 2016, "A
//! Diversity-Promoting Objective Function for Neural Conversation Models":
//! distinct bigrams over all bigrams), repeated 4-grams (the n-gram
//! repetition of Welleck et al. 2019, "Neural Text Generation with
//! Unlikelihood Training", counted as occurrences beyond a 4-gram's first),
//! and where several outputs first differ.

use std::collections::HashSet;

/// The mean of `logprobs` (each `log p(token | before)` under the model, as
/// [`crate::decoding::score`] gives them); `None` for no tokens.
pub fn mean_logprob(logprobs: &[f32]) -> Option<f64> {
    if logprobs.is_empty() {
        return None;
    }
    Some(logprobs.iter().map(|&l| l as f64).sum::<f64>() / logprobs.len() as f64)
}

/// Distinct bigrams over all bigrams of `ids`; `None` with fewer than 2 ids.
pub fn distinct_2(ids: &[u32]) -> Option<f64> {
    let bigrams: Vec<&[u32]> = ids.windows(2).collect();
    if bigrams.is_empty() {
        return None;
    }
    let unique: HashSet<&[u32]> = bigrams.iter().copied().collect();
    Some(unique.len() as f64 / bigrams.len() as f64)
}

/// How many 4-grams of `ids` repeat one seen before: occurrences beyond each
/// 4-gram's first (0 for a text without repeats or under 4 ids).
pub fn repeated_4grams(ids: &[u32]) -> usize {
    let mut seen = HashSet::new();
    ids.windows(4).filter(|w| !seen.insert(*w)).count()
}

/// The first position where the outputs do not all hold the same id (a
/// missing token, past the end of a shorter output, counts as different);
/// `None` when they are all the same (or there are fewer than two).
pub fn first_divergence(outputs: &[&[u32]]) -> Option<usize> {
    let (first, rest) = outputs.split_first()?;
    let longest = outputs.iter().map(|o| o.len()).max().unwrap_or(0);
    (0..longest).find(|&i| rest.iter().any(|o| o.get(i) != first.get(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_log_probability_is_the_mean() {
        assert_eq!(mean_logprob(&[-1.0, -2.0, -4.5]), Some(-2.5));
        assert_eq!(mean_logprob(&[]), None);
    }

    #[test]
    fn distinct_2_counts_unique_bigrams_over_bigrams() {
        // Bigrams (1,2) (2,1) (1,2) (2,3): three distinct of four.
        assert_eq!(distinct_2(&[1, 2, 1, 2, 3]), Some(0.75));
        assert_eq!(distinct_2(&[7, 7, 7]), Some(0.5));
        assert_eq!(distinct_2(&[5]), None);
        assert_eq!(distinct_2(&[]), None);
    }

    #[test]
    fn repeated_4grams_count_occurrences_beyond_the_first() {
        // Nine 4-grams, four distinct (1 2 3 4 three times, the others twice).
        assert_eq!(repeated_4grams(&[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]), 5);
        assert_eq!(repeated_4grams(&[9, 9, 9, 9, 9]), 1);
        assert_eq!(repeated_4grams(&[1, 2, 3, 4, 5]), 0);
        assert_eq!(repeated_4grams(&[1, 2, 3]), 0);
    }

    #[test]
    fn the_first_divergence_is_the_first_position_not_shared_by_all() {
        assert_eq!(first_divergence(&[&[1, 2, 3], &[1, 2, 4]]), Some(2));
        assert_eq!(first_divergence(&[&[1, 2, 3], &[1, 2, 3], &[0]]), Some(0));
        assert_eq!(first_divergence(&[&[1, 2], &[1, 2, 3]]), Some(2));
        assert_eq!(first_divergence(&[&[1, 2], &[1, 2]]), None);
        assert_eq!(first_divergence(&[&[1, 2]]), None);
        assert_eq!(first_divergence(&[]), None);
    }
}
