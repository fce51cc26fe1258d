"""Speed of the engine's `gpt2 bench` against Hugging Face `transformers`
(PyTorch) on the same weights, same machine, in one run: prefill and decode
tokens/s per model shape and decoding strategy, with ratios.

    ../venv/bin/python tests/bench/compare_transformers.py                  # CPU table
    python3 tests/bench/compare_transformers.py --device cuda --dtype f16 \\
        --shapes gpt2,gpt2-xl --engine BUNDLE/gpt2 --random-checkpoint BUNDLE/random_checkpoint

Checkpoints are seeded random GPT-2s of the real shapes (weights do not change
speed), written once under target/bench/. Every run generates exactly
--new-tokens tokens on both sides (end-of-text held off). Contrastive's amateur
is a --second checkpoint (distilgpt2 by default, another seed). Speculative's
draft is, by default, the target's own first --draft-layers blocks (an
early-exit draft). Two random models agree on almost no token, and neither do
a random model and its first blocks, so the measured checkpoints have their
blocks' output projections (attn.c_proj, mlp.c_proj) scaled by
--residual-scale (0.3): the draft then agrees with the target most of the
time, as a trained draft does, while every shape and byte count stays that of
the real model. With --draft-layers 0 the draft is --second.

On the transformers side: greedy, beam and sampling are `generate`;
speculative is `generate(assistant_model=...)` with a constant
num_assistant_tokens = gamma and greedy verification, as the engine's;
contrastive decoding (Li et al. 2022) is not in transformers, so it is a
PyTorch loop over the two models' KV caches (the reference loop of
tests/golden/make_contrastive_fixtures.py, cached). Decode speed there is
(N - 1) / (t(N tokens) - t(1 token)), prefill speed prompt / t(1 token).
Greedy, beam and speculative ids must equal transformers' (f32 only).
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

import torch
import transformers
from transformers import GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATEGIES = ["greedy", "beam", "sample", "speculative", "contrastive"]
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(f, device):
    sync(device)
    t = time.perf_counter()
    out = f()
    sync(device)
    return time.perf_counter() - t, out


def checkpoint(a, shape, seed):
    """The seeded random checkpoint of `shape`, its projections scaled."""
    base = os.path.join(ROOT, "target", "bench", f"{shape}-seed{seed}")
    if not os.path.exists(os.path.join(base, "model.safetensors")):
        subprocess.run([a.random_checkpoint, base, "--shape", shape, "--seed", str(seed)], check=True)
    if a.residual_scale == 1:
        return base
    return derived(base, f"{base}-scale{a.residual_scale}", a.residual_scale, None)


def early_exit(folder, layers):
    """`folder`'s model cut after its first `layers` blocks."""
    return derived(folder, f"{folder}-first{layers}", 1.0, layers)


def derived(src, dst, scale, layers):
    from safetensors.torch import load_file, save_file
    if os.path.exists(os.path.join(dst, "model.safetensors")):
        return dst
    os.makedirs(dst, exist_ok=True)
    tensors = {}
    for name, t in load_file(os.path.join(src, "model.safetensors")).items():
        parts = name.split(".")
        if layers is not None and "h" in parts and int(parts[parts.index("h") + 1]) >= layers:
            continue
        if ".c_proj." in name and name.endswith(".weight"):
            t = t * scale
        tensors[name] = t.contiguous()
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    if layers is not None:
        config["n_layer"] = layers
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    shutil.copy(os.path.join(src, "tokenizer.json"), dst)
    save_file(tensors, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    return dst


def engine_bench(a, folder, draft, second, strategies):
    args = [a.engine, "bench", "--model", folder, "--device", a.device, "--dtype", a.dtype, "--json",
            "--strategies", ",".join(strategies), "--prompt-tokens", str(a.prompt_tokens),
            "--new-tokens", str(a.new_tokens), "--runs", str(a.runs), "--num-beams", str(a.num_beams),
            "--gamma", str(a.gamma)]
    if "speculative" in strategies:
        args += ["--draft", draft]
    if "contrastive" in strategies:
        args += ["--amateur", second]
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def load(folder, a):
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=DTYPES[a.dtype], attn_implementation="eager")
    return model.to(a.device).eval()


def generate_fn(strategy, model, draft, second, prompt, a):
    """f(n): generate exactly n new tokens with `strategy`; returns the new ids."""
    common = dict(attention_mask=torch.ones_like(prompt), pad_token_id=50256)

    def run(n, **kw):
        with torch.no_grad():
            out = model.generate(prompt, max_new_tokens=n, min_new_tokens=n, **common, **kw)
        return out[0, prompt.shape[1]:].tolist()

    if strategy == "greedy":
        return lambda n: run(n, do_sample=False)
    if strategy == "beam":
        return lambda n: run(n, do_sample=False, num_beams=a.num_beams, early_stopping=False, length_penalty=1.0)
    if strategy == "sample":
        return lambda n: run(n, do_sample=True, temperature=1.0, top_k=50, top_p=1.0)
    if strategy == "speculative":
        gc = draft.generation_config
        gc.num_assistant_tokens = a.gamma
        gc.num_assistant_tokens_schedule = "constant"
        gc.assistant_confidence_threshold = 0.0
        return lambda n: run(n, do_sample=False, assistant_model=draft)
    if strategy == "contrastive":
        return lambda n: contrastive(model, second, prompt, n, alpha=0.1, lam=1.0)
    raise ValueError(strategy)


def contrastive(expert, amateur, prompt, n, alpha, lam, eos=50256):
    """Li et al. 2022 with KV caches: argmax of lp_e - lam * lp_a over the
    tokens with lp_e >= max lp_e + log(alpha); end-of-text held off (n exact)."""
    out = []
    with torch.no_grad():
        ids, past_e, past_a = prompt, None, None
        for _ in range(n):
            e = expert(ids, past_key_values=past_e, use_cache=True)
            m = amateur(ids, past_key_values=past_a, use_cache=True)
            past_e, past_a = e.past_key_values, m.past_key_values
            lp_e = torch.log_softmax(e.logits[0, -1].float(), -1)
            lp_a = torch.log_softmax(m.logits[0, -1].float(), -1)
            lp_e[eos] = -math.inf
            score = lp_e - lam * lp_a
            score[lp_e < lp_e.max() + math.log(alpha)] = -math.inf
            token = int(score.argmax())
            out.append(token)
            ids = torch.tensor([[token]], device=prompt.device)
    return out


def transformers_bench(a, folder, draft_folder, second_folder, strategies, prompt_ids):
    torch.manual_seed(0)
    model = load(folder, a)
    draft = load(draft_folder, a) if "speculative" in strategies else None
    second = load(second_folder, a) if "contrastive" in strategies else None
    prompt = torch.tensor([prompt_ids], device=a.device)
    results = {}
    for s in strategies:
        f = generate_fn(s, model, draft, second, prompt, a)
        f(2)  # warm-up
        prefill, decode = [], []
        for _ in range(a.runs):
            t1, _ = timed(lambda: f(1), a.device)
            tn, ids = timed(lambda: f(a.new_tokens), a.device)
            prefill.append(len(prompt_ids) / t1)
            decode.append((a.new_tokens - 1) / (tn - t1))
        results[s] = {"prefill": statistics.median(prefill), "decode": statistics.median(decode), "ids": ids}
    return results


def measure_bandwidth(device, threads):
    """Read bandwidth in GB/s: the best of 5 sums of a 1 GiB tensor (CPU), or of
    5 device-to-device copies of 1 GiB, counting bytes read and written (GPU)."""
    x = torch.ones(256 * 1024 * 1024, dtype=torch.float32, device=device)
    if device == "cuda":
        y = torch.empty_like(x)
        f, moved = (lambda: y.copy_(x)), 2 * x.numel() * 4
    else:
        torch.set_num_threads(threads)
        f, moved = (lambda: x.sum()), x.numel() * 4
    f()
    best = min(timed(f, device)[0] for _ in range(5))
    return moved / best / 1e9


def weight_bytes(folder, bytes_per_number):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    e, v, layers = c["n_embd"], c["vocab_size"], c["n_layer"]
    inner = c.get("n_inner") or 4 * e
    per_layer = 4 * e + 3 * e * e + 3 * e + e * e + e + 2 * e * inner + inner + e
    return (v * e + layers * per_layer + 2 * e) * bytes_per_number


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="distilgpt2,gpt2,gpt2-medium")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--second", default="distilgpt2", help="shape of the contrastive amateur")
    p.add_argument("--draft-layers", type=int, default=2,
                   help="speculative draft: the target's first N blocks (0: the --second checkpoint)")
    p.add_argument("--residual-scale", type=float, default=0.3,
                   help="scale of the blocks' output projections in the measured checkpoints")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="f32", choices=list(DTYPES))
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--gamma", type=int, default=4)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--bandwidth", type=float, help="GB/s of the device's memory (default: measured)")
    p.add_argument("--engine", default=os.path.join(ROOT, "target", "release", "gpt2"))
    p.add_argument("--random-checkpoint", default=os.path.join(ROOT, "target", "release", "examples", "random_checkpoint"))
    p.add_argument("--markdown", help="also write the table to this file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    strategies = a.strategies.split(",")
    second = checkpoint(a, a.second, 1)
    if not a.bandwidth:
        a.bandwidth = measure_bandwidth(a.device, a.threads)
    rows, failures, predictions = [], [], []
    for shape in a.shapes.split(","):
        folder = checkpoint(a, shape, 0)
        draft = early_exit(folder, a.draft_layers) if a.draft_layers else second
        print(f"== {shape}", file=sys.stderr)
        eng = engine_bench(a, folder, draft, second, strategies)
        hf = transformers_bench(a, folder, draft, second, strategies, eng["prompt_ids"])
        ceiling = a.bandwidth * 1e9 / weight_bytes(folder, 2 if a.dtype != "f32" else 4)
        for s in eng["strategies"]:
            name, h = s["strategy"], hf[s["strategy"]]
            rows.append((shape, name, s["prefill_tokens_per_second"], h["prefill"],
                         s["decode_tokens_per_second"], h["decode"], ceiling))
            if a.dtype == "f32" and name in ("greedy", "beam", "speculative", "contrastive") and s["ids"] != h["ids"]:
                failures.append(f"{shape} {name}: engine ids {s['ids']} != transformers {h['ids']}")
        if eng.get("speculative_prediction"):
            predictions.append((shape, eng["speculative_prediction"]))

    device = "GPU" if a.device == "cuda" else f"CPU, {a.threads} threads"
    lines = [
        f"transformers {transformers.__version__} / torch {torch.__version__} vs engine, {device}, {a.dtype}, "
        f"batch 1, {a.prompt_tokens} prompt tokens, {a.new_tokens} new tokens, median of {a.runs}; "
        f"beam {a.num_beams}, sampling top-k 50, speculative γ={a.gamma} with a "
        + (f"draft of the target's first {a.draft_layers} blocks, " if a.draft_layers else f"{a.second} draft, ") +
        f"contrastive α=0.1 λ=1 with a {a.second} amateur; block projections scaled by {a.residual_scale}",
        "",
        "| shape | strategy | prefill tok/s engine | transformers | ratio | decode tok/s engine | transformers | ratio "
        "| engine decode, of ceiling |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, name, pe, ph, de, dh, ceiling in rows:
        lines.append(f"| {shape} | {name} | {pe:.0f} | {ph:.0f} | {pe / ph:.2f}x | {de:.1f} | {dh:.1f} "
                     f"| {de / dh:.2f}x | {de / ceiling:.0%} |")
    lines.append("")
    lines.append(f"Ceiling: {a.bandwidth:.0f} GB/s of memory bandwidth (measured) over the bytes of weights read "
                 "per token; it is a bound for greedy and sampling, beam and the two-model methods read more.")
    for shape, sp in predictions:
        lines.append("")
        lines.append(
            f"{shape} speculative: {sp['tokens_per_target_pass']:.2f} tokens per target pass (α = {sp['alpha']:.3f}), "
            f"draft/target cost c = {sp['cost_ratio']:.3f}: Leviathan eq. 1 predicts {sp['predicted_speedup']:.2f}x "
            f"over greedy, measured {sp['measured_speedup']:.2f}x ({sp['measured_over_predicted']:.0%} of predicted); "
            f"a verify pass costs {sp['verify_cost']:.2f} target passes, and with that cost eq. 1 predicts "
            f"{sp['predicted_speedup_measured_verify']:.2f}x ({sp['measured_over_predicted_measured_verify']:.0%})")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    for f in failures:
        print("MISMATCH:", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
