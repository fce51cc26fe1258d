"""Greedy decode speed at batch 1: the engine's `gpt2` (candle, CPU) against
Hugging Face `transformers` on the same weights, same machine, same threads,
in one run; with the memory-bandwidth ceiling next to them.

    ../venv/bin/python tests/bench/greedy_vs_transformers.py [--shape gpt2] [--tokens 64] [--threads 2]

The checkpoint is a seeded random GPT-2 of the real shape (weights do not
change speed), written once under target/bench/. Decode speed excludes the
prompt's prefill: for transformers it is (N-1) / (t(N new tokens) - t(1)).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from transformers import GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = [40, 423, 257, 4320, 326, 530, 1110, 11]  # "I have a dream that one day,"


def cargo_build():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "engine", "--bin", "gpt2", "--example", "random_checkpoint"],
        cwd=ROOT,
        check=True,
    )


def checkpoint(shape):
    folder = os.path.join(ROOT, "target", "bench", f"{shape}-seed0")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        exe = os.path.join(ROOT, "target", "release", "examples", "random_checkpoint")
        subprocess.run([exe, folder, "--shape", shape, "--seed", "0"], check=True)
    return folder


def read_bandwidth_gbs(threads):
    """Read bandwidth of this machine: summing a 1 GiB tensor with `threads` threads."""
    torch.set_num_threads(threads)
    x = torch.ones(256 * 1024 * 1024, dtype=torch.float32)
    x.sum()
    best = min(timed(lambda: x.sum()) for _ in range(5))
    return x.numel() * 4 / best / 1e9


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def engine_decode(folder, tokens, threads, runs):
    exe = os.path.join(ROOT, "target", "release", "gpt2")
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    args = [exe, "generate", "--model", folder, "--strategy", "greedy", "--json",
            "--max-new-tokens", str(tokens), "--prompt-ids", ",".join(map(str, PROMPT))]
    rates, ids = [], None
    for _ in range(runs):
        out = json.loads(subprocess.run(args, env=env, check=True, capture_output=True).stdout)
        rates.append(out["stats"]["decode_tokens_per_second"])
        ids = out["sequences"][0]["ids"]
    return statistics.median(rates), ids


def transformers_decode(folder, tokens, threads, runs):
    torch.set_num_threads(threads)
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()
    prompt = torch.tensor([PROMPT])

    def gen(n):
        with torch.no_grad():
            return model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                  max_new_tokens=n, min_new_tokens=n, pad_token_id=50256)

    gen(4)  # warm-up
    rates = []
    for _ in range(runs):
        t1 = timed(lambda: gen(1))
        tn = timed(lambda: gen(tokens))
        rates.append((tokens - 1) / (tn - t1))
    ids = gen(tokens)[0, len(PROMPT):].tolist()
    return statistics.median(rates), ids


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="gpt2")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    cargo_build()
    folder = checkpoint(a.shape)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    c, v, n_pos = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg.get("n_inner") or 4 * c
    params_read = v * c + cfg["n_layer"] * (4 * c + 3 * c * c + 3 * c + c * c + c + 2 * c * inner + inner + c) + 2 * c
    bytes_per_token = params_read * 4

    engine_rate, engine_ids = engine_decode(folder, a.tokens, a.threads, a.runs)
    hf_rate, hf_ids = transformers_decode(folder, a.tokens, a.threads, a.runs)
    bandwidth = read_bandwidth_gbs(a.threads)
    ceiling = bandwidth * 1e9 / bytes_per_token

    print(f"greedy decode, batch 1, {a.shape} shape (f32, {bytes_per_token / 1e6:.0f} MB of weights read per token), "
          f"{a.tokens} new tokens, {a.threads} threads, median of {a.runs}")
    print(f"{'':28}{'tokens/s':>10}{'vs transformers':>17}{'of ceiling':>12}")
    for name, rate in [("transformers " + __import__('transformers').__version__, hf_rate),
                       ("engine (candle cpu)", engine_rate),
                       (f"ceiling ({bandwidth:.1f} GB/s read)", ceiling)]:
        print(f"{name:28}{rate:>10.1f}{rate / hf_rate:>16.2f}x{rate / ceiling:>11.0%}")
    same = engine_ids == hf_ids
    print(f"same greedy ids as transformers: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
