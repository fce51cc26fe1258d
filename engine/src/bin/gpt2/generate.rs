//! `gpt2 generate`: continue a prompt, streaming the text as it is chosen.

use std::io::Write;
use std::time::Instant;

use engine::backend::{block_on, LanguageModel};
use engine::decoding::{greedy, GenerateOptions};
use engine::tokenizer::IncrementalDecoder;
use engine::Result;
use serde_json::json;

use crate::args::{GenerateArgs, Strategy};
use crate::load::{load, prompt_ids};

pub fn run(args: &GenerateArgs) -> Result<()> {
    let loaded = load(&args.model)?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let prompt = prompt_ids(&args.prompt, tokenizer)?;
    let options = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        min_new_tokens: args.min_new_tokens,
        eos_token_id: Some(model.config().eos_token_id),
    };
    let json = args.model.json;
    let mut stdout = std::io::stdout();
    if !json {
        print!("{}", tokenizer.decode(&prompt)?);
        let _ = stdout.flush();
    }
    let mut decoder = IncrementalDecoder::new();
    let mut stream_error = None;
    let start = Instant::now();
    let mut first_token_at = None;
    let out = match args.strategy {
        Strategy::Greedy => block_on(greedy(model, &prompt, &options, |id| {
            first_token_at.get_or_insert_with(Instant::now);
            if !json {
                match decoder.push(tokenizer, id) {
                    Ok(text) => {
                        print!("{text}");
                        let _ = stdout.flush();
                    }
                    Err(e) => stream_error = Some(e),
                }
            }
        }))?,
    };
    let seconds = start.elapsed().as_secs_f64();
    if let Some(e) = stream_error {
        return Err(e);
    }
    let n = out.ids.len();
    // Prefill (the prompt plus the first token) apart from the steady decode rate.
    let prefill = first_token_at.map_or(seconds, |t| (t - start).as_secs_f64());
    let decode_rate = if n > 1 {
        (n - 1) as f64 / (seconds - prefill)
    } else {
        0.0
    };
    let stats = json!({
        "new_tokens": n,
        "seconds": seconds,
        "tokens_per_second": n as f64 / seconds,
        "prefill_seconds": prefill,
        "decode_tokens_per_second": decode_rate,
    });
    if json {
        let text = tokenizer.decode(&out.ids)?;
        let sequences = json!([{"ids": out.ids, "text": text, "score": out.score}]);
        println!(
            "{}",
            json!({"prompt_ids": prompt, "sequences": sequences, "stats": stats})
        );
    } else {
        println!("{}", decoder.finish());
        eprintln!(
            "{n} tokens in {seconds:.2} s: prefill {:.0} ms, decode {decode_rate:.1} tokens/s",
            prefill * 1000.0
        );
    }
    Ok(())
}
