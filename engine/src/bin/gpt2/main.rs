//! `gpt2`: GPT-2 on the command line — next-token distributions, text scores
//! and generation, for people (streamed text, tables) or scripts (`--json`).

mod args;
mod bench;
mod bench_device;
#[cfg(feature = "cuda")]
mod bench_fused;
mod bench_report;
mod generate;
mod load;
mod next;
mod render;
mod sampling;
mod score;
mod serve;
mod serve_conn;
mod serve_worker;
mod timed;

use clap::Parser;

use args::{Cli, Command};

fn main() {
    // A bug must not print a backtrace at a user: say what happened, exit 1.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error ({info}); please report it");
    }));
    let cli = Cli::parse();
    let result = std::panic::catch_unwind(|| match &cli.command {
        Command::Next(a) => next::run(a),
        Command::Score(a) => score::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => serve::run(a),
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            std::process::exit(if e.is_bad_input() { 2 } else { 1 });
        }
        Err(_) => std::process::exit(1),
    }
}
