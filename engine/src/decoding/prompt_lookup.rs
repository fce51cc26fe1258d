//! Prompt lookup: a speculative draft with no second model, copied from the
//! context. The last n tokens are searched for earlier in the context, and
//! the tokens that followed the match are proposed.
//!
//! Saxena 2023, "Prompt Lookup Decoding"
//! (github.com/apoorvumang/prompt-lookup-decoding); written to choose exactly
//! what transformers' `PromptLookupCandidateGenerator.get_candidates` chooses
//! (`generation/candidate_generator.py`, 5.23):
//!
//! - n-gram sizes from `max_matching_ngram_size` (at most the context's
//!   length − 1) down to 1, the first size with a usable match wins;
//! - at one size, matches are tried left to right (the earliest first), and
//!   a match is usable when a token follows it: the continuation is up to
//!   `num_tokens` tokens after it, within the context (it may run into the
//!   n-gram itself);
//! - the continuation is cut before the first token the processors ban
//!   whatever the logits (end-of-text before `min_new_tokens`, a repeated
//!   n-gram); cut to nothing, the next match is tried;
//! - then it is cut before its first end-of-text (nothing after end-of-text
//!   can be emitted); cut to nothing, nothing is proposed.
//!
//! No match: nothing is proposed, and the target adds one token by itself.

/// The tokens copied from `context` as a draft of up to `num_tokens` tokens,
/// searching n-grams of `max_ngram` tokens down to 1. `banned(seq, x)` says
/// whether the processors forbid `x` after `seq` (the context followed by the
/// candidates before `x`).
pub fn prompt_lookup(
    context: &[u32],
    max_ngram: usize,
    num_tokens: usize,
    eos_token_id: Option<u32>,
    banned: &dyn Fn(&[u32], u32) -> bool,
) -> Vec<u32> {
    let len = context.len();
    if num_tokens == 0 {
        return Vec::new();
    }
    for n in (1..=max_ngram.min(len.saturating_sub(1))).rev() {
        let ngram = &context[len - n..];
        for (start, window) in context.windows(n).enumerate() {
            if window != ngram {
                continue;
            }
            let from = start + n;
            let to = (from + num_tokens).min(len);
            if from >= to {
                continue;
            }
            let mut chosen = context[from..to].to_vec();
            let mut seq = context.to_vec();
            if let Some(i) = chosen.iter().position(|&x| {
                let ban = banned(&seq, x);
                seq.push(x);
                ban
            }) {
                chosen.truncate(i);
            }
            if chosen.is_empty() {
                continue;
            }
            if let Some(i) = chosen.iter().position(|&x| Some(x) == eos_token_id) {
                chosen.truncate(i);
            }
            return chosen;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(context: &[u32], n: usize, num: usize) -> Vec<u32> {
        prompt_lookup(context, n, num, None, &|_, _| false)
    }

    #[test]
    fn the_longest_ngram_then_the_earliest_match() {
        // [1, 2] occurs at 0 and 3; the earliest is used.
        assert_eq!(lookup(&[1, 2, 7, 1, 2, 8, 1, 2], 2, 3), [7, 1, 2]);
        // The 2-gram [2, 9] never occurred, the 1-gram [9] did.
        assert_eq!(lookup(&[9, 5, 2, 9], 2, 2), [5, 2]);
        assert_eq!(lookup(&[5, 6, 7, 8], 2, 4), Vec::<u32>::new());
        assert_eq!(lookup(&[9], 2, 4), Vec::<u32>::new());
    }

    #[test]
    fn the_continuation_may_overlap_the_ngram() {
        assert_eq!(lookup(&[9, 9, 9, 9], 2, 3), [9, 9]);
        assert_eq!(lookup(&[1, 2, 3, 4, 1, 2, 3], 2, 2), [4, 1]);
    }

    #[test]
    fn bans_skip_a_match_and_end_of_text_cuts_it() {
        let context = [1, 2, 3, 4, 1, 2, 5, 1, 2];
        // End-of-text (3) right after the first match: nothing.
        assert!(prompt_lookup(&context, 2, 4, Some(3), &|_, _| false).is_empty());
        // Banned there instead: the next match.
        let ban_3 = |_: &[u32], x: u32| x == 3;
        assert_eq!(prompt_lookup(&context, 2, 4, Some(3), &ban_3), [5, 1, 2]);
        // A ban inside the continuation cuts it there.
        let ban_1 = |seq: &[u32], x: u32| x == 1 && seq.len() > context.len();
        assert_eq!(prompt_lookup(&context, 2, 4, None, &ban_1), [3, 4]);
    }
}
