"""CPU speed of the engine's `gpt2 bench` against llama.cpp (through
llama-cpp-python) and Hugging Face `transformers` (PyTorch), on one seeded
random GPT-2 checkpoint, in one run: decode and prefill tokens/s of greedy
decoding at batch 1, each the median of --runs runs, their ratios, and each
decode speed as a share of the memory-bandwidth ceiling.

    python3 tests/bench/compare_native.py                       # gpt2 shape, f32, 2 threads
    python3 tests/bench/compare_native.py --dtype f16 --markdown native.md
    python3 tests/bench/compare_native.py --checkpoint DIR --runs 1   # any checkpoint folder

Setup: everything lives under target/bench/. The first run creates the
virtual environment target/bench/native-venv (`python3 -m venv`), installs the
pinned packages below into it, and runs itself again inside it; a later run
with any python re-enters it directly. llama-cpp-python is built from source
(llama.cpp compiled for this host's CPU: CMAKE_ARGS=-DGGML_NATIVE=ON), which
takes several minutes on 2 cores; pip's cache and temporary files are kept in
target/bench/ too. `--setup-only` stops after the installation.

The checkpoint is `random_checkpoint target/bench/gpt2-seed0 --shape gpt2`
(the one compare_transformers.py measures, before it scales the projections),
in transformers' safetensors layout. It is converted here to GGUF in the
--dtype (f32; f16 or bf16 for the matrices, norms and biases kept in f32, as
llama.cpp's converter does) with the `gguf` package: GPT-2's tensors under
llama.cpp's names (token_embd, position_embd, blk.N.attn_norm, attn_qkv,
attn_output, ffn_norm, ffn_up, ffn_down, output_norm; the lm_head is tied, so
llama.cpp reuses token_embd) and the GPT-2 tokenizer (tokens, types, merges)
from the checkpoint's tokenizer.json.

The prompt is the engine's bench prompt (its ids, --prompt-tokens long), used
as ids on all three sides; every side generates exactly --new-tokens tokens,
end-of-text held off. Prefill speed is prompt / (time of the prompt's forward
pass), decode speed (N - 1) / (time of the other N - 1 steps): the engine's
bench --json fields; for llama.cpp the same split around llama_decode calls
(the prompt in one batch, then one token per call, greedy argmax in numpy, no
sampler); for transformers (N - 1) / (t(N tokens) - t(1 token)) of `generate`,
as compare_transformers.py measures it. The KV cache of llama.cpp is kept in
the --dtype.

The --runs timed runs are interleaved: a round runs each side once, in a
rotating order, so that other work on the machine falls on all three alike.
llama.cpp and transformers load their model once and are warmed up; the
engine is one `gpt2 bench --runs 1` per round (with its own warm-up run). The
table gives each figure's median, then the spread over the runs and the share
of the CPU that other processes took meanwhile (from /proc/stat).

Checks: in f32 the three greedy id lists must be equal, or the script exits 1
(in f16/bf16 a difference is reported only); the log-probabilities of the
engine's top-10 next tokens after the prompt (`gpt2 next --json`) are compared
with llama.cpp's and transformers', and the largest difference printed.

The ceiling is the measured read bandwidth (torch sum of 1 GiB, as
compare_transformers.py) over the bytes of weights one decode step reads
(all of them once, the tied lm_head once).
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "target", "bench")
VENV = os.path.join(BENCH, "native-venv")
# Exact pins of what the comparison runs on (their own dependencies resolve freely).
PINS = {
    "numpy": "2.4.6",
    "safetensors": "0.8.0",
    "gguf": "0.19.0",
    "torch": "2.15.0",
    "transformers": "5.23.0",
    "llama-cpp-python": "0.3.36",
}
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF"
EOS = 50256
GGML_TYPE_BF16 = 30  # ggml.h; llama-cpp-python names no constant for it


def say(*args):
    print(*args, file=sys.stderr, flush=True)


def die(message, code=2):
    say(f"error: {message}")
    sys.exit(code)


# --- the virtual environment ----------------------------------------------------------------

def venv_python():
    return os.path.join(VENV, "bin", "python")


def in_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def unmet_pins():
    from importlib import metadata
    unmet = []
    for name, version in PINS.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != version:
            unmet.append(f"{name}=={version}")
    return unmet


def pip_install(specs, env, log, label):
    """pip install `specs` into the venv, the full output in `log`, progress on stderr."""
    cmd = ["nice", "-n", "10", venv_python(), "-m", "pip", "install", "-v", *specs]
    say(f"[setup] {label}: {' '.join(specs)} (log: {os.path.relpath(log, ROOT)})")
    start = time.time()
    step = re.compile(r"^\[(\d+)/(\d+)\]")
    last = 0.0
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
        for line in proc.stdout:
            out.write(line)
            text = line.strip()
            elapsed = time.time() - start
            m = step.match(text)
            if m:
                # ninja's "[n/m] command": print the source file it compiles, at most every 5 s
                if elapsed - last >= 5 or m.group(1) == m.group(2):
                    src = [w for w in text.split() if re.search(r"\.(c|cc|cpp|cxx)$", w)]
                    what = os.path.basename(src[-1]) if src else text.split()[-1][-60:]
                    say(f"[setup] {elapsed:5.0f} s  compiling llama.cpp {m.group(0)} {what}")
                    last = elapsed
            elif text.startswith(("Downloading", "Building wheel", "Successfully",
                                  "Installing collected", "ERROR", "error:")) or "-- Build files" in text \
                    or "GGML_NATIVE" in text or "Adding CPU backend" in text or "x86 detected" in text:
                say(f"[setup] {elapsed:5.0f} s  {text[:150]}")
        rc = proc.wait()
    if rc != 0:
        die(f"pip install failed (exit {rc}); see {log}")
    return time.time() - start


def setup():
    """Make sure this process runs in the venv with the pins installed (re-executing if needed)."""
    if not in_venv():
        if not os.path.exists(venv_python()):
            if sys.version_info < (3, 10):
                die("python >= 3.10 is needed to create the venv (gguf requires it)")
            say(f"[setup] creating {os.path.relpath(VENV, ROOT)} with {sys.executable}")
            os.makedirs(BENCH, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        say(f"[setup] re-running inside {os.path.relpath(VENV, ROOT)}")
        os.execv(venv_python(), [venv_python(), os.path.abspath(__file__), *sys.argv[1:]])
    unmet = unmet_pins()
    if not unmet:
        return
    if os.environ.get("COMPARE_NATIVE_SETUP_DONE"):
        die(f"still unmet after installing: {', '.join(unmet)}")
    tmp = os.path.join(BENCH, "tmp")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, PIP_CACHE_DIR=os.path.join(BENCH, "pip-cache"), TMPDIR=tmp,
               CMAKE_BUILD_PARALLEL_LEVEL="2", CMAKE_ARGS=LLAMA_CMAKE_ARGS, PIP_DISABLE_PIP_VERSION_CHECK="1")
    log = os.path.join(BENCH, "native-venv-install.log")
    start = time.time()
    wheels = [s for s in unmet if not s.startswith("llama-cpp-python")]
    if wheels:
        pip_install(wheels, env, log, "installing wheels")
    if any(s.startswith("llama-cpp-python") for s in unmet):
        say(f"[setup] building llama.cpp from source for this host's CPU (CMAKE_ARGS={LLAMA_CMAKE_ARGS}, "
            f"CMAKE_BUILD_PARALLEL_LEVEL=2): several minutes on 2 cores")
        pip_install([f"llama-cpp-python=={PINS['llama-cpp-python']}"], env, log, "building llama-cpp-python")
    say(f"[setup] installed in {time.time() - start:.0f} s")
    os.environ["COMPARE_NATIVE_SETUP_DONE"] = "1"
    os.execv(venv_python(), [venv_python(), os.path.abspath(__file__), *sys.argv[1:]])


# --- GGUF conversion -------------------------------------------------------------------------

def gguf_path(folder, dtype):
    return os.path.join(folder, f"model-{dtype}.gguf")


def to_gguf(folder, dtype):
    """Write `folder`'s transformers checkpoint as GGUF for llama.cpp's gpt2 architecture."""
    import numpy as np
    import gguf
    from safetensors.numpy import load_file

    out = gguf_path(folder, dtype)
    src = os.path.join(folder, "model.safetensors")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    with open(os.path.join(folder, "tokenizer.json")) as f:
        tok = json.load(f)
    e, layers, vocab_size = c["n_embd"], c["n_layer"], c["vocab_size"]
    inner = c.get("n_inner") or 4 * e
    if c.get("activation_function", "gelu_new") != "gelu_new":
        die(f"{folder}: activation {c['activation_function']} is not llama.cpp's GPT-2 gelu")
    qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
             "bf16": gguf.GGMLQuantizationType.BF16}[dtype]
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype]

    tmp = out + ".part"
    w = gguf.GGUFWriter(tmp, "gpt2")
    w.add_name(os.path.basename(os.path.normpath(folder)))
    w.add_context_length(c["n_positions"])
    w.add_embedding_length(e)
    w.add_feed_forward_length(inner)
    w.add_block_count(layers)
    w.add_head_count(c["n_head"])
    w.add_layer_norm_eps(c["layer_norm_epsilon"])
    w.add_file_type(ftype)

    # tokenizer: byte-level BPE, llama.cpp's "gpt2" model with the "gpt-2" pre-tokenizer
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    special = {a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
    for a in tok.get("added_tokens", []):
        by_id[a["id"]] = a["content"]
    tokens, types = [], []
    for i in range(vocab_size):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(c.get("bos_token_id", EOS))
    w.add_eos_token_id(c.get("eos_token_id", EOS))
    w.add_add_bos_token(False)

    names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
             "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    tensors = load_file(src)
    written = set()
    for name in sorted(tensors):
        t = tensors[name]
        short = name.removeprefix("transformer.")
        if short.endswith((".attn.bias", ".attn.masked_bias")) or short == "lm_head.weight":
            continue  # causal-mask buffers; the lm_head is tied to wte
        if short == "wte.weight":
            new = "token_embd.weight"
        elif short == "wpe.weight":
            new = "position_embd.weight"
        elif short.startswith("ln_f."):
            new = "output_norm." + short.split(".")[-1]
        elif short.startswith("h."):
            _, block, rest = short.split(".", 2)
            part, kind = rest.rsplit(".", 1)
            if part not in names:
                die(f"{folder}: unexpected tensor {name}")
            new = f"blk.{block}.{names[part]}.{kind}"
            if kind == "weight" and part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                t = t.T  # Conv1D stores (in, out); llama.cpp wants (out, in) rows
        else:
            die(f"{folder}: unexpected tensor {name}")
        t = np.ascontiguousarray(t.astype(np.float32))
        if t.ndim >= 2 and dtype != "f32":
            q = gguf.quants.quantize(t, qtype)
            w.add_tensor(new, q, raw_dtype=qtype)
        else:
            w.add_tensor(new, t)
        written.add(new)
    expected = 4 + 12 * layers
    if len(written) != expected:
        die(f"{folder}: wrote {len(written)} tensors, GPT-2 with {layers} blocks has {expected}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out)
    say(f"wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out) / 1e6:.0f} MB)")
    return out


# --- the three sides -------------------------------------------------------------------------

class Engine:
    """`gpt2 bench --json` for greedy, one timed run per call (after its own warm-up run)."""

    def __init__(self, a, folder):
        self.a, self.folder = a, folder

    def run(self, new_tokens=None):
        a = self.a
        args = [a.engine, "bench", "--model", self.folder, "--device", "cpu", "--dtype", a.dtype, "--json",
                "--strategies", "greedy", "--prompt-tokens", str(a.prompt_tokens),
                "--new-tokens", str(new_tokens or a.new_tokens), "--runs", "1"]
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        p = subprocess.run(args, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            die(f"engine bench failed (exit {p.returncode}): {' '.join(args)}\n{p.stderr.strip()}")
        out = json.loads(p.stdout)
        s = out["strategies"][0]
        return {"prefill": s["prefill_tokens_per_second"], "decode": s["decode_tokens_per_second"],
                "ids": s["ids"], "prompt_ids": out["prompt_ids"]}


def engine_next(a, folder, prompt_ids, top=10):
    args = [a.engine, "next", "--model", folder, "--device", "cpu", "--dtype", a.dtype, "--json",
            "--top", str(top), "--prompt-ids", ",".join(map(str, prompt_ids))]
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        die(f"engine next failed (exit {p.returncode}): {p.stderr.strip()}")
    return {c["id"]: c["logprob"] for c in json.loads(p.stdout)["candidates"]}


def log_softmax(x):
    import numpy as np
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


class LlamaCpp:
    """A GGUF model in llama.cpp, driven by llama_decode directly (no sampler)."""

    def __init__(self, path, a, n_ctx):
        import numpy as np
        import llama_cpp
        self.np, self.lib = np, llama_cpp
        kv = {"f32": llama_cpp.GGML_TYPE_F32, "f16": llama_cpp.GGML_TYPE_F16,
              "bf16": GGML_TYPE_BF16}[a.dtype]
        batch = max(512, a.prompt_tokens)
        self.llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=batch, n_ubatch=batch,
                                   n_threads=a.threads, n_threads_batch=a.threads, use_mmap=False,
                                   type_k=kv, type_v=kv, flash_attn=a.flash_attn, verbose=a.verbose)
        self.ctx = self.llm.ctx
        self.n_vocab = self.llm.n_vocab()

    def clear(self):
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)

    def forward(self, ids):
        """Run `ids` after what the cache holds; the last position's logits (a view)."""
        arr = (self.lib.llama_token * len(ids))(*ids)
        rc = self.lib.llama_decode(self.ctx, self.lib.llama_batch_get_one(arr, len(ids)))
        if rc != 0:
            die(f"llama_decode returned {rc}")
        ptr = self.lib.llama_get_logits_ith(self.ctx, -1)
        return self.np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def greedy(self, prompt_ids, n):
        """n greedy tokens (end-of-text held off); (ids, prefill seconds, seconds of the rest)."""
        self.clear()
        t0 = time.perf_counter()
        logits = self.forward(prompt_ids).copy()
        logits[EOS] = -float("inf")
        token = int(logits.argmax())
        t1 = time.perf_counter()
        ids = [token]
        for _ in range(n - 1):
            logits = self.forward([token]).copy()
            logits[EOS] = -float("inf")
            token = int(logits.argmax())
            ids.append(token)
        t2 = time.perf_counter()
        return ids, t1 - t0, t2 - t1

    def prompt_logits(self, prompt_ids):
        self.clear()
        return self.forward(prompt_ids).copy()


class LlamaSide:
    def __init__(self, a, path, prompt_ids):
        self.a, self.prompt_ids = a, prompt_ids
        self.m = LlamaCpp(path, a, len(prompt_ids) + a.new_tokens + 16)
        self.m.greedy(prompt_ids, 2)  # warm-up

    def run(self):
        ids, tp, td = self.m.greedy(self.prompt_ids, self.a.new_tokens)
        return {"prefill": len(self.prompt_ids) / tp, "decode": (self.a.new_tokens - 1) / td, "ids": ids}

    def logits(self):
        return self.m.prompt_logits(self.prompt_ids)


class TransformersSide:
    """compare_transformers.py's greedy measurement (`generate`), one run per call."""

    def __init__(self, a, ct, folder, prompt_ids):
        import torch
        self.torch, self.a, self.ct, self.n_prompt = torch, a, ct, len(prompt_ids)
        torch.manual_seed(0)
        self.model = ct.load(folder, a)
        self.prompt = torch.tensor([prompt_ids])
        self.f = ct.generate_fn("greedy", self.model, None, None, self.prompt, a)
        self.f(2)  # warm-up

    def run(self):
        t1, _ = self.ct.timed(lambda: self.f(1), "cpu")
        tn, ids = self.ct.timed(lambda: self.f(self.a.new_tokens), "cpu")
        return {"prefill": self.n_prompt / t1, "decode": (self.a.new_tokens - 1) / (tn - t1), "ids": ids}

    def logits(self):
        with self.torch.no_grad():
            return self.model(self.prompt).logits[0, -1].float().numpy()


# --- report ----------------------------------------------------------------------------------

def cpu_model():
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_seconds():
    """(seconds of CPU all processes used, seconds this process and its children used), so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields[:3]) + sum(fields[5:8])  # user nice system, irq softirq steal
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


def first_difference(x, y):
    for i, (p, q) in enumerate(zip(x, y)):
        if p != q:
            return i
    return None if len(x) == len(y) else min(len(x), len(y))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="gpt2", help="random_checkpoint --shape of the checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="use this checkpoint folder instead of the seeded --shape one")
    p.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bandwidth", type=float, help="GB/s of memory read bandwidth (default: measured)")
    p.add_argument("--engine", default=os.path.join(ROOT, "target", "release", "gpt2"))
    p.add_argument("--random-checkpoint",
                   default=os.path.join(ROOT, "target", "release", "examples", "random_checkpoint"))
    p.add_argument("--flash-attn", action="store_true", help="llama.cpp: use flash attention")
    p.add_argument("--no-transformers", action="store_true", help="leave out the transformers row")
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--verbose", action="store_true", help="llama.cpp's own log on stderr")
    p.add_argument("--setup-only", action="store_true", help="install the venv and stop")
    a = p.parse_args()
    if a.new_tokens < 2 or a.runs < 1 or a.prompt_tokens < 1:
        die("--new-tokens must be >= 2, --runs and --prompt-tokens >= 1")
    setup()
    if a.setup_only:
        say(f"[setup] {os.path.relpath(VENV, ROOT)} has {', '.join(f'{k}=={v}' for k, v in PINS.items())}")
        return
    for tool in (a.engine,) + (() if a.checkpoint else (a.random_checkpoint,)):
        if not os.access(tool, os.X_OK):
            die(f"{tool} is missing: cargo build --release -p engine --bin gpt2 --example random_checkpoint")

    import torch
    import transformers
    import llama_cpp
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import compare_transformers as ct
    transformers.utils.logging.disable_progress_bar()

    # compare_transformers' functions read these fields
    a.device, a.residual_scale, a.num_beams, a.gamma = "cpu", 1.0, 4, 4
    torch.set_num_threads(a.threads)
    folder = os.path.abspath(a.checkpoint) if a.checkpoint else ct.checkpoint(a, a.shape, a.seed)
    path = to_gguf(folder, a.dtype)
    bandwidth_given = bool(a.bandwidth)
    if not bandwidth_given:
        a.bandwidth = ct.measure_bandwidth("cpu", a.threads)
    bytes_per_number = 4 if a.dtype == "f32" else 2
    ceiling = a.bandwidth * 1e9 / ct.weight_bytes(folder, bytes_per_number)
    system = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    say(f"llama.cpp system info: {system}")

    engine = Engine(a, folder)
    prompt_ids = engine.run(new_tokens=2)["prompt_ids"]
    sides = {"engine": engine, "llama.cpp": LlamaSide(a, path, prompt_ids)}
    if not a.no_transformers:
        sides["transformers"] = TransformersSide(a, ct, folder, prompt_ids)
    # The runs are interleaved (one run of each side per round, the order rotating), so that
    # whatever else the CPU is doing in the meantime falls on all sides alike.
    names = list(sides)
    runs = {n: [] for n in names}
    busy0, own0, wall0 = *cpu_seconds(), time.perf_counter()
    for r in range(a.runs):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            runs[n].append(sides[n].run())
        say(f"run {r + 1}/{a.runs}: " + ", ".join(
            f"{n} {runs[n][-1]['decode']:.1f} / {runs[n][-1]['prefill']:.0f}" for n in names)
            + " tok/s decode / prefill")
    busy1, own1, wall1 = *cpu_seconds(), time.perf_counter()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / ((wall1 - wall0) * os.cpu_count())
    failures, notes, results = [], [], {}
    for n in names:
        rs = runs[n]
        results[n] = {
            "decode": statistics.median(r["decode"] for r in rs),
            "prefill": statistics.median(r["prefill"] for r in rs),
            "decode_range": (min(r["decode"] for r in rs), max(r["decode"] for r in rs)),
            "prefill_range": (min(r["prefill"] for r in rs), max(r["prefill"] for r in rs)),
            "ids": rs[-1]["ids"],
        }
        if any(r["ids"] != rs[0]["ids"] for r in rs):
            failures.append(f"{n}: greedy ids changed between runs")
        if n != "engine":
            results[n]["logits"] = sides[n].logits()
    eng, lc, hf = results["engine"], results["llama.cpp"], results.get("transformers")
    del sides

    # checks: greedy ids, and the log-probabilities of the engine's top-10 next tokens
    top = engine_next(a, folder, prompt_ids)
    for name, side in [("llama.cpp", lc)] + ([("transformers", hf)] if hf else []):
        lp = log_softmax(side["logits"])
        diff = max(abs(lp[i] - v) for i, v in top.items())
        agree = side["ids"] == eng["ids"]
        at = first_difference(side["ids"], eng["ids"])
        notes.append(f"{name} greedy ids {'equal' if agree else 'differ from'} the engine's "
                     f"({len(eng['ids'])} tokens{'' if agree else f', first at step {at}'}); "
                     f"next-token log-probabilities after the prompt: max |Δ| {diff:.2e} over the engine's top 10")
        if not agree:
            say(f"{name} ids: {side['ids']}\nengine ids: {eng['ids']}")
            if a.dtype == "f32":
                failures.append(f"{name} greedy ids differ from the engine's at step {at} "
                                f"(log-probability max |Δ| {diff:.2e})")

    rows = list(results.items())
    versions = (f"engine `{os.path.relpath(a.engine, ROOT)}`, llama-cpp-python {llama_cpp.__version__} "
                f"(llama.cpp built with GGML_NATIVE=ON{', flash attention' if a.flash_attn else ''}), "
                f"transformers {transformers.__version__} / torch {torch.__version__}")
    lines = [
        f"CPU: {cpu_model()}, {a.threads} threads; memory read bandwidth {a.bandwidth:.1f} GB/s "
        f"({'given' if bandwidth_given else 'measured'}); "
        f"{os.path.relpath(folder, ROOT)}, {a.dtype}, batch 1, greedy, {len(prompt_ids)}-token prompt, "
        f"{a.new_tokens} new tokens, median of {a.runs} runs",
        f"{versions}",
        "",
        f"| | decode tok/s | prefill tok/s ({len(prompt_ids)}-token prompt) | engine ÷ this, decode "
        f"| engine ÷ this, prefill | decode, of ceiling ({ceiling:.0f} tok/s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['decode']:.1f} | {r['prefill']:.0f} | {eng['decode'] / r['decode']:.2f}x "
                     f"| {eng['prefill'] / r['prefill']:.2f}x | {r['decode'] / ceiling:.0%} |")
    lines.append("")
    lines.append(f"Ceiling: {a.bandwidth:.1f} GB/s over {ct.weight_bytes(folder, bytes_per_number) / 1e6:.0f} MB "
                 "of weights read per decode step.")
    lines.append("Spread over the runs (min–max tok/s): " + "; ".join(
        f"{n} decode {r['decode_range'][0]:.1f}–{r['decode_range'][1]:.1f}, prefill {r['prefill_range'][0]:.0f}–"
        f"{r['prefill_range'][1]:.0f}" for n, r in rows) + ". "
        f"Other processes used {others:.0%} of the machine's {os.cpu_count()} cores during the runs"
        + (" (the figures are noisy)." if others > 0.05 else "."))
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    for f in failures:
        say(f"MISMATCH: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
