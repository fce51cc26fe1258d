//! `gpt2 score`: the log-probability of every token of a text.

use engine::backend::block_on;
use engine::decoding::score;
use engine::{Error, Result};
use serde_json::json;

use crate::args::ScoreArgs;
use crate::load::load;

pub fn run(args: &ScoreArgs) -> Result<()> {
    let loaded = load(&args.model)?;
    let ids = match (&args.text, &args.ids) {
        (Some(text), _) => loaded.tokenizer.encode(text)?,
        (None, Some(ids)) => ids.clone(),
        (None, None) => Vec::new(),
    };
    if ids.is_empty() {
        return Err(Error::input(
            "the text is empty: give --text TEXT or --ids 1,2,3",
        ));
    }
    let token_logprobs = block_on(score(&loaded.model, &ids))?;
    let total: f64 = token_logprobs.iter().map(|&l| l as f64).sum();
    if args.model.json {
        println!(
            "{}",
            json!({"ids": ids, "token_logprobs": token_logprobs, "total_logprob": total})
        );
    } else {
        println!("{:>7}  {:>9}  token", "id", "logprob");
        println!(
            "{:>7}  {:>9}  {:?}",
            ids[0],
            "",
            loaded.tokenizer.token_text(ids[0])?
        );
        for (id, lp) in ids[1..].iter().zip(&token_logprobs) {
            println!(
                "{id:>7}  {lp:>9.4}  {:?}",
                loaded.tokenizer.token_text(*id)?
            );
        }
        println!(
            "total log-probability: {total:.4} over {} tokens",
            token_logprobs.len()
        );
    }
    Ok(())
}
