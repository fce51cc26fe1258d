//! `gpt2 next`: the most likely next tokens.

use engine::backend::block_on;
use engine::decoding::next_token_logprobs;
use engine::Result;
use serde_json::json;

use crate::args::NextArgs;
use crate::load::{load, prompt_ids};

pub fn run(args: &NextArgs) -> Result<()> {
    let loaded = load(&args.model)?;
    let ids = prompt_ids(&args.prompt, &loaded.tokenizer)?;
    let candidates = block_on(next_token_logprobs(&loaded.model, &ids, args.top))?;
    let mut rows = Vec::new();
    for c in &candidates {
        let token = loaded.tokenizer.token_text(c.id)?;
        rows.push(
            json!({"id": c.id, "token": token, "logprob": c.logprob, "prob": c.logprob.exp()}),
        );
    }
    if args.model.json {
        println!("{}", json!({"prompt_ids": ids, "candidates": rows}));
    } else {
        println!(
            "{:>4}  {:>7}  {:>9}  {:>8}  token",
            "rank", "id", "logprob", "prob"
        );
        for (rank, row) in rows.iter().enumerate() {
            println!(
                "{:>4}  {:>7}  {:>9.4}  {:>7.3}%  {:?}",
                rank + 1,
                row["id"],
                row["logprob"].as_f64().unwrap_or_default(),
                100.0 * row["prob"].as_f64().unwrap_or_default(),
                row["token"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}
