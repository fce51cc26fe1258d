//! `gpt2 serve` under load: N clients each running 64-token greedy runs for a
//! while — runs/s, p50/p99 decode-step latency, every run checked against the
//! local model, the server's resident memory after warm-up and at the end —
//! and the socket's overhead on one client against the same model in process.
//! A measurement to run by hand, not a timed test.
//!
//! ```text
//! cargo build --release -p engine --bin gpt2 --example serve_bench
//! target/release/examples/serve_bench --model DIR [--clients 8] [--seconds 60] \
//!     [--tokens 64] [--overhead-runs 3] [--gpt2 target/release/gpt2]
//! ```

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use engine::backend::{
    block_on, Device, Hidden, HiddenRequest, LanguageModel, Logits, Model, Precision, TopLogits,
};
use engine::config::Gpt2Config;
use engine::decoding::{run, GenerateOptions, Strategy};
use engine::remote::Remote;
use engine::tokenizer::Tokenizer;
use engine::weights::SafetensorsFile;

/// `gpt2 serve` under load, and the socket's overhead.
#[derive(Parser)]
struct Args {
    /// A model folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Clients running at once in the load phase.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Length of the load phase.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// New tokens per greedy run.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    /// Runs of one client, local and remote in turn, for the overhead.
    #[arg(long, default_value_t = 3)]
    overhead_runs: usize,
    /// The gpt2 binary (default: next to this example's folder).
    #[arg(long)]
    gpt2: Option<PathBuf>,
}

/// A model whose decode steps (one new token per row) are timed.
struct Timed<M> {
    inner: M,
    steps: RefCell<Vec<Duration>>,
}

impl<M: LanguageModel> LanguageModel for Timed<M> {
    type Cache = M::Cache;
    fn config(&self) -> &Gpt2Config {
        self.inner.config()
    }
    fn new_cache(&self, rows: usize) -> engine::Result<M::Cache> {
        self.inner.new_cache(rows)
    }
    async fn forward(&self, c: &mut M::Cache, t: &[&[u32]], last: usize) -> engine::Result<Logits> {
        let start = Instant::now();
        let out = self.inner.forward(c, t, last).await;
        self.record(t, start);
        out
    }
    async fn forward_top(
        &self,
        c: &mut M::Cache,
        t: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> engine::Result<TopLogits> {
        let start = Instant::now();
        let out = self.inner.forward_top(c, t, last, k, extra).await;
        self.record(t, start);
        out
    }
    async fn forward_hidden(
        &self,
        c: &mut M::Cache,
        t: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> engine::Result<Hidden> {
        self.inner.forward_hidden(c, t, last, want).await
    }
}

impl<M> Timed<M> {
    fn new(inner: M) -> Self {
        Timed {
            inner,
            steps: RefCell::new(Vec::new()),
        }
    }
    fn record(&self, tokens: &[&[u32]], start: Instant) {
        if tokens[0].len() == 1 {
            self.steps.borrow_mut().push(start.elapsed());
        }
    }
}

fn greedy(model: &impl LanguageModel, tokens: usize) -> Vec<u32> {
    let options = GenerateOptions {
        max_new_tokens: tokens,
        min_new_tokens: tokens,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let prompt = [464, 2068, 7586, 21831, 18045, 625, 262, 16931];
    let out = block_on(run::<_, Model>(
        &Strategy::Greedy,
        model,
        None,
        &prompt,
        &options,
        &mut |_| {},
    ));
    out.expect("a greedy run").sequences.remove(0).ids
}

/// The `q`-quantile of `times`, in milliseconds.
fn quantile(times: &mut [Duration], q: f64) -> f64 {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * q).round() as usize;
    times.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// A process's resident memory in MiB (Linux).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok());
    kib.map_or(f64::NAN, |k| k / 1024.0)
}

fn start_server(gpt2: &Path, model: &Path) -> (Child, String, String) {
    let mut child = Command::new(gpt2)
        .args(["serve", "--device", "cpu", "--port", "0", "--model"])
        .arg(model)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gpt2 serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line.trim().strip_prefix("ready ").expect("the ready line");
    let (url, token) = rest.split_once(" token=").unwrap();
    (child, url.to_string(), token.to_string())
}

fn main() {
    let args = Args::parse();
    let gpt2 = args.gpt2.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("gpt2")
    });
    let config = Gpt2Config::from_file(&args.model.join("config.json")).unwrap();
    let tokenizer = Tokenizer::from_file(&args.model.join("tokenizer.json")).unwrap();
    let weights = SafetensorsFile::open(&args.model.join("model.safetensors")).unwrap();
    let loaded = block_on(engine::loading::load(
        &config,
        tokenizer,
        weights,
        &Device::Cpu,
        Precision::F32,
    ))
    .unwrap();
    let local = Timed::new(loaded.model);
    let expected = greedy(&local, args.tokens);
    local.steps.borrow_mut().clear();
    let (mut server, url, token) = start_server(&gpt2, &args.model);
    println!(
        "model {} ({} layers, n_embd {}), {} new tokens per run",
        args.model.display(),
        config.n_layer,
        config.n_embd,
        args.tokens
    );

    // The socket's overhead: one client, local and remote runs in turn.
    let remote = block_on(Remote::connect(&url, &token)).unwrap();
    let one = Timed::new(remote.model(0).unwrap());
    assert_eq!(
        greedy(&one, args.tokens),
        expected,
        "the warm-up run differs"
    );
    one.steps.borrow_mut().clear();
    for _ in 0..args.overhead_runs {
        assert_eq!(greedy(&local, args.tokens), expected);
        assert_eq!(greedy(&one, args.tokens), expected);
    }
    let mut remote_steps = one.steps.take();
    drop(one);
    drop(remote);
    let (l50, r50) = (
        quantile(&mut local.steps.take(), 0.5),
        quantile(&mut remote_steps, 0.5),
    );
    println!(
        "overhead, 1 client, {} runs each: decode step p50 {l50:.3} ms local, {r50:.3} ms \
         over the socket: {:+.1}%",
        args.overhead_runs,
        (r50 / l50 - 1.0) * 100.0
    );
    drop(local);

    // Load: N clients, each its own connection, for the duration.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let warm_rss = std::sync::Mutex::new(None);
    let results: Vec<(usize, usize, Vec<Duration>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.clients)
            .map(|_| {
                let (url, token, expected, warm_rss) = (&url, &token, &expected, &warm_rss);
                let pid = server.id();
                scope.spawn(move || {
                    let remote = block_on(Remote::connect(url, token)).unwrap();
                    let model = Timed::new(remote.model(0).unwrap());
                    let (mut runs, mut wrong) = (0, 0);
                    while Instant::now() < deadline {
                        runs += 1;
                        wrong += usize::from(greedy(&model, args.tokens) != *expected);
                        if runs == 1 {
                            let mut w = warm_rss.lock().unwrap();
                            *w = Some(w.map_or(rss_mib(pid), |r: f64| r.max(rss_mib(pid))));
                        }
                    }
                    (runs, wrong, model.steps.take())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // The last runs end after the deadline: count the time they took.
    let elapsed = start.elapsed().as_secs_f64();
    let runs: usize = results.iter().map(|r| r.0).sum();
    let wrong: usize = results.iter().map(|r| r.1).sum();
    let mut steps: Vec<Duration> = results.into_iter().flat_map(|r| r.2).collect();
    println!(
        "load: {} clients × {:.1} s: {runs} runs ({:.2} runs/s), {wrong} not exact; \
         decode step p50 {:.3} ms, p99 {:.3} ms; server RSS {:.1} MiB after warm-up, {:.1} MiB at the end",
        args.clients,
        elapsed,
        runs as f64 / elapsed,
        quantile(&mut steps, 0.5),
        quantile(&mut steps, 0.99),
        warm_rss.into_inner().unwrap().unwrap_or(f64::NAN),
        rss_mib(server.id()),
    );
    let _ = server.kill();
    let _ = server.wait();
    if wrong > 0 {
        std::process::exit(1);
    }
}
