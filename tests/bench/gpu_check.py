"""The Python half of scripts/gpu-check: reads the JSON the check's stages
wrote into one results folder, and writes the markdown table.

    python3 tests/bench/gpu_check.py adapter BENCH.json      # device, emulated, kernels (tab-separated)
    python3 tests/bench/gpu_check.py libtest LOG             # passed, failed, ignored (tab-separated)
    python3 tests/bench/gpu_check.py torch RESULTS           # bandwidth + transformers eager (needs torch, CUDA)
    python3 tests/bench/gpu_check.py table RESULTS OUT.md    # the markdown table, also printed

Only `torch` imports torch and transformers (through compare_transformers.py,
whose loading and timing it reuses), so the other commands run anywhere.
A field the engine's JSON lacks is printed "absent".
"""

import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ABSENT = "absent"
WORK_FIELDS = [
    ("dispatches_per_token", "dispatches/tok"),
    ("submissions_per_token", "submits/tok"),
    ("readback_bytes_per_token", "readback B/tok"),
    ("buffers_created_per_token", "buffers/tok"),
    ("bind_groups_created_per_token", "bind groups/tok"),
]
EMULATED_NAMES = re.compile(r"llvmpipe|lavapipe|swiftshader|softpipe|\bcpu\b", re.I)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def meta(results):
    m = {}
    try:
        with open(os.path.join(results, "meta.txt")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    m[k] = v
    except OSError:
        pass
    return m


def first_strategy(bench):
    s = (bench or {}).get("strategies") or []
    return s[0] if s else {}


def adapter(bench):
    """(device string, emulated: True/False/None, kernels or None) of a wgpu bench."""
    device = bench.get("device") or ABSENT
    work = first_strategy(bench).get("device_work")
    emulated = kernels = None
    if isinstance(work, dict):
        emulated = work.get("emulated_adapter")
        kernels = work.get("kernels")
    if not isinstance(emulated, bool):
        emulated = None
    return device, emulated, kernels


def cmd_adapter(path):
    bench = load_json(path)
    if bench is None:
        print(f"error: {path} is not the JSON of gpt2 bench", file=sys.stderr)
        return 1
    device, emulated, kernels = adapter(bench)
    by_name = bool(EMULATED_NAMES.search(device))
    # The engine's own flag decides; without it, the adapter's name.
    verdict = emulated if emulated is not None else by_name
    source = "device_work.emulated_adapter" if emulated is not None else "its name; emulated_adapter absent"
    print(f"{device}\t{'yes' if verdict else 'no'}\t{kernels or ABSENT}\t{source}")
    return 0


def libtest(path):
    """Totals of libtest's `test result:` lines in a log."""
    passed = failed = ignored = 0
    seen = False
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return None
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text):
        seen = True
        passed += int(m.group(1))
        failed += int(m.group(2))
        ignored += int(m.group(3))
    return (passed, failed, ignored) if seen else None


def cmd_libtest(path):
    r = libtest(path)
    print("\t".join(map(str, r)) if r else "absent")
    return 0


# --- torch: bandwidth and transformers eager --------------------------------

def cmd_torch(results):
    sys.path.insert(0, HERE)
    import argparse
    import statistics

    import torch
    import compare_transformers as ct

    m = meta(results)
    runs, new_tokens = int(m.get("runs", 3)), int(m.get("new_tokens", 64))
    name = torch.cuda.get_device_name(0)
    bw = ct.measure_bandwidth("cuda", os.cpu_count())
    with open(os.path.join(results, "bandwidth.json"), "w") as f:
        json.dump({"gb_per_second": bw, "torch_device": name, "torch": torch.__version__,
                   "how": "best of 5 device-to-device copies of 1 GiB (torch), bytes read + written"}, f)
    print(f"torch {torch.__version__}: {name}; device-to-device copy {bw:.0f} GB/s", flush=True)

    folder = m.get("model_gpt2-xl")
    status = 0
    a = argparse.Namespace(device="cuda", dtype="f16", runs=runs, new_tokens=new_tokens, num_beams=4, gamma=4)
    torch.manual_seed(0)
    model = ct.load(folder, a)
    for ctx in m.get("contexts", "32").split(","):
        bench = load_json(os.path.join(results, f"bench-cuda-gpt2-xl-f16-{ctx}.json"))
        if not bench:
            print(f"transformers, context {ctx}: no engine prompt (CUDA bench missing); skipped", flush=True)
            status = 1
            continue
        prompt_ids = bench["prompt_ids"]
        prompt = torch.tensor([prompt_ids], device="cuda")
        f = ct.generate_fn("greedy", model, None, None, prompt, a)
        f(2)  # warm-up
        prefill, decode = [], []
        for _ in range(runs):
            t1, _ = ct.timed(lambda: f(1), "cuda")
            tn, ids = ct.timed(lambda: f(new_tokens), "cuda")
            prefill.append(len(prompt_ids) / t1)
            decode.append((new_tokens - 1) / (tn - t1))
        out = {"prefill_tokens_per_second": statistics.median(prefill),
               "decode_tokens_per_second": statistics.median(decode),
               "ids": ids, "same_ids_as_engine": ids == first_strategy(bench).get("ids"),
               "prompt_tokens": len(prompt_ids), "transformers": ct.transformers.__version__}
        with open(os.path.join(results, f"transformers-gpt2-xl-f16-{ctx}.json"), "w") as f_:
            json.dump(out, f_)
        print(f"transformers eager gpt2-xl f16, context {ctx}: prefill {out['prefill_tokens_per_second']:.0f} "
              f"tok/s, decode {out['decode_tokens_per_second']:.1f} tok/s", flush=True)
    return status


# --- the table ---------------------------------------------------------------

def params(folder):
    """Parameters read per token: every tensor of the checkpoint except the
    attention masks (from the safetensors header)."""
    try:
        with open(os.path.join(folder, "model.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for name, t in header.items():
        if name == "__metadata__" or name.endswith("attn.bias") or name.endswith("attn.masked_bias"):
            continue
        count = 1
        for d in t["shape"]:
            count *= d
        total += count
    return total


def profile_rows(p):
    """(kinds, GPU seconds per token or None, why) of a bench's `profile`:
    a list of kinds, or {"kernels": [...], "gpu_seconds_per_token"}, or
    {"unavailable": why}, or null (kinds None)."""
    if isinstance(p, list):
        return p, None, ""
    if isinstance(p, dict):
        if isinstance(p.get("kernels"), list):
            total = p.get("gpu_seconds_per_token")
            return p["kernels"], total if isinstance(total, (int, float)) else None, ""
        if p.get("unavailable"):
            return None, None, f"unavailable: {p['unavailable']}"
    return None, None, ""


def num(x, fmt):
    return format(x, fmt) if isinstance(x, (int, float)) and not isinstance(x, bool) else ABSENT


def stderr_why(path):
    """The lines of a bench's stderr that say something about the profile."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ""
    said = [l.strip() for l in lines if "profil" in l.lower() or "timestamp" in l.lower()]
    return "; ".join(said[-2:])


def cmd_table(results, out_path):
    m = meta(results)
    contexts = m.get("contexts", "32").split(",")
    configs = [("gpt2", "f32"), ("gpt2", "f16"), ("gpt2-xl", "f16")]
    bw = load_json(os.path.join(results, "bandwidth.json")) or {}
    bandwidth = bw.get("gb_per_second")
    adapter_probe = load_json(os.path.join(results, "adapter.json"))
    L = []
    L.append("# gpt2 GPU check")
    L.append("")
    gpu = ""
    try:
        gpu = open(os.path.join(results, "gpu.txt")).read().strip()
    except OSError:
        pass
    L.append(f"- GPU (nvidia-smi): {gpu or 'none (no NVIDIA GPU: the CUDA stages were skipped)'}")
    if adapter_probe:
        dev, emu, kernels = adapter(adapter_probe)
        if emu is None:
            emu_text = ("yes" if EMULATED_NAMES.search(dev) else "no") + " by its name (emulated_adapter absent)"
        else:
            emu_text = "yes" if emu else "no"
        L.append(f"- wgpu adapter: {dev}; emulated: {emu_text}; "
                 f"kernels: {kernels or ABSENT} (GPT2_WGPU_KERNELS={m.get('wgpu_kernels') or 'unset: auto'})")
    else:
        L.append("- wgpu adapter: absent (the probe did not run or failed)")
    if bandwidth:
        on = f"; torch {bw['torch']} on {bw.get('torch_device', '?')}" if "torch" in bw else ""
        L.append(f"- memory bandwidth: {bandwidth:.0f} GB/s, {bw.get('how', '')}{on}")
    else:
        L.append("- memory bandwidth: absent (measured with torch on CUDA only)")
    L.append(f"- engine: {m.get('engine_version', ABSENT)} ({m.get('binaries', ABSENT)}); commit {m.get('commit', ABSENT)}")
    shapes = "tiny stand-ins for gpt2 / gpt2-xl (dry run)" if m.get("tiny") == "1" else "gpt2 and gpt2-xl shapes"
    L.append(f"- models: seeded random checkpoints, {shapes} "
             f"(gpt2: {num(params(m.get('model_gpt2', '')), ',')} parameters, "
             f"gpt2-xl: {num(params(m.get('model_gpt2-xl', '')), ',')})")
    L.append(f"- `gpt2 bench` greedy, batch 1, {m.get('new_tokens', '?')} new tokens after a prompt of "
             f"{' or '.join(contexts)} tokens, median of {m.get('runs', '?')} runs after {m.get('warmup', '?')} "
             f"warm-up; transformers: eager attention, `generate` greedy, same prompt ids, "
             f"decode = (N-1)/(t(N)-t(1))")
    L.append("")

    # Parity tests.
    L.append("## Parity tests")
    L.append("")
    rows = {}
    for line in _lines(os.path.join(results, "tests.tsv")):
        device, name, status, secs = (line.split("\t") + ["", "", "", ""])[:4]
        counts = libtest(os.path.join(results, f"test-{device}-{name}.log"))
        cell = status
        if counts:
            p, f, i = counts
            cell = f"{status}: {p} passed, {f} failed" + (f", {i} ignored" if i else "")
        if secs:
            cell += f" ({secs} s)"
        rows.setdefault(name, {})[device] = cell
    if rows:
        L.append("| test binary | CUDA | CUDA, fused step | wgpu |")
        L.append("|---|---|---|---|")
        for name, cells in rows.items():
            L.append(f"| {name} | {cells.get('cuda', 'not run')} | {cells.get('cuda-fused', 'not run')} "
                     f"| {cells.get('wgpu', 'not run')} |")
    else:
        L.append("none ran")
    L.append("")

    # Benches.
    L.append("## Greedy decoding speed")
    L.append("")
    head = ["model", "dtype", "context", "device", "prefill tok/s", "decode tok/s", "ceiling tok/s",
            "of ceiling", "vs transformers", "wgpu kernels"] + [h for _, h in WORK_FIELDS]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    targets = []
    notes = []
    for model, dtype in configs:
        n_params = params(m.get(f"model_{model}", ""))
        ceiling = None
        if bandwidth and n_params:
            ceiling = bandwidth * 1e9 / (n_params * (4 if dtype == "f32" else 2))
        for ctx in contexts:
            hf = load_json(os.path.join(results, f"transformers-{model}-{dtype}-{ctx}.json"))
            for device in ("cuda", "wgpu", "transformers"):
                if device == "transformers":
                    if model != "gpt2-xl" or dtype != "f16" or not os.path.exists(
                            os.path.join(results, f"bench-cuda-{model}-{dtype}-{ctx}.json")):
                        continue
                    s = hf or {}
                    label = "transformers eager (CUDA)"
                    status = "ok" if hf else "failed or not run"
                else:
                    path = os.path.join(results, f"bench-{device}-{model}-{dtype}-{ctx}.json")
                    status = _status(results, f"bench-{device}-{model}-{dtype}-{ctx}")
                    if status is None:
                        continue  # not planned (no GPU for CUDA)
                    s = first_strategy(load_json(path))
                    label = device
                    note = _read(os.path.join(results, f"bench-{device}-{model}-{dtype}-{ctx}.note"))
                    if note:
                        if note not in notes:
                            notes.append(note)
                        label += f" ({notes.index(note) + 1})"
                pre, dec = s.get("prefill_tokens_per_second"), s.get("decode_tokens_per_second")
                if not s:
                    L.append(f"| {model} | {dtype} | {ctx} | {label} | {status} |" + " |" * (len(head) - 5))
                    continue
                of = f"{dec / ceiling:.0%}" if ceiling and isinstance(dec, (int, float)) else ABSENT
                vs = "–"
                if device == "cuda" and hf and isinstance(dec, (int, float)):
                    ratio = dec / hf["decode_tokens_per_second"]
                    vs = f"{ratio:.2f}x"
                    if model == "gpt2-xl" and dtype == "f16":
                        targets.append((ctx, ratio, dec, hf["decode_tokens_per_second"], ceiling))
                if device == "wgpu":
                    work = s.get("device_work")
                    work = work if isinstance(work, dict) else {}
                    extra = [str(work.get("kernels", ABSENT))] + [
                        _fmt_work(work.get(k)) for k, _ in WORK_FIELDS]
                else:
                    extra = ["–"] * (1 + len(WORK_FIELDS))
                L.append("| " + " | ".join([model, dtype, ctx, label, num(pre, ".0f"), num(dec, ".1f"),
                                            num(ceiling, ".0f"), of, vs] + extra) + " |")
                fused_run = load_json(os.path.join(results, f"bench-cuda-fused-{model}-{dtype}-{ctx}.json"))
                fused = (fused_run or {}).get("fused_step") if device == "cuda" else None
                if device == "cuda" and fused_run:
                    # The fused step as the model: greedy through the strategies' host loop.
                    h = first_strategy(fused_run)
                    hdec = h.get("decode_tokens_per_second")
                    hof = f"{hdec / ceiling:.0%}" if ceiling and isinstance(hdec, (int, float)) else ABSENT
                    same = h.get("ids") == s.get("ids") if h.get("ids") and s.get("ids") else None
                    hlabel = "cuda fused step, host loop (" + {True: "candle's ids", False: "ids differ from candle's", None: "ids not compared"}[same] + ")"
                    L.append("| " + " | ".join([model, dtype, ctx, hlabel, num(h.get("prefill_tokens_per_second"), ".0f"),
                                                num(hdec, ".1f"), num(ceiling, ".0f"), hof, "–"] + ["–"] * (1 + len(WORK_FIELDS))) + " |")
                if isinstance(fused, dict):
                    if "error" in fused:
                        L.append(f"| {model} | {dtype} | {ctx} | cuda fused step | failed: {fused['error']} |"
                                 + " |" * (len(head) - 5))
                        continue
                    fpre, fdec = fused.get("prefill_tokens_per_second"), fused.get("decode_tokens_per_second")
                    fof = f"{fdec / ceiling:.0%}" if ceiling and isinstance(fdec, (int, float)) else ABSENT
                    fvs = "–"
                    if hf and isinstance(fdec, (int, float)):
                        fvs = f"{fdec / hf['decode_tokens_per_second']:.2f}x"
                    same = fused.get("ids") == s.get("ids") if fused.get("ids") and s.get("ids") else None
                    agree = {True: "candle's ids", False: "ids differ from candle's", None: "ids not compared"}[same]
                    flabel = f"cuda fused step, graph loop ({fused.get('launches_per_token')} launches, {agree})"
                    L.append("| " + " | ".join([model, dtype, ctx, flabel, num(fpre, ".0f"), num(fdec, ".1f"),
                                                num(ceiling, ".0f"), fof, fvs] + ["–"] * (1 + len(WORK_FIELDS))) + " |")
    if L[-1].startswith("|---"):
        L.append("| no bench ran |" + " |" * (len(head) - 1))
    L.append("")
    for i, n in enumerate(notes):
        L.append(f"({i + 1}) {n}")
    if notes:
        L.append("")
    if bandwidth:
        L.append(f"Ceiling: {bandwidth:.0f} GB/s of memory bandwidth ({bw.get('how', '?')}) over the bytes of "
                 "the weights read per token (parameters × 4 in f32, × 2 in f16; the KV cache not counted).")
    else:
        L.append("Ceiling: absent (no bandwidth measured).")
    L.append("")
    if targets:
        for ctx, ratio, dec, hf_dec, ceiling in targets:
            verdict = "MET" if ratio >= 2 else "NOT MET"
            ceil = f", ceiling {ceiling:.0f} tok/s ({dec / ceiling:.0%} of it)" if ceiling else ""
            L.append(f"- **CUDA gpt2-xl f16 vs transformers eager, {ctx}-token prompt: {ratio:.2f}x** "
                     f"({dec:.1f} against {hf_dec:.1f} tok/s decode{ceil}); target ≥ 2x: {verdict}")
        same = [(c, (load_json(os.path.join(results, f"transformers-gpt2-xl-f16-{c}.json")) or {})
                 .get("same_ids_as_engine")) for c in contexts]
        L.append(f"- same greedy ids as transformers (f16, may part at near ties): "
                 + ", ".join(f"{c}: {ABSENT if v is None else ('yes' if v else 'no')}" for c, v in same))
    else:
        L.append("- CUDA gpt2-xl f16 vs transformers eager: absent (not measured in this run)")
    L.append("")

    # wgpu profile.
    L.append("## wgpu profile (`gpt2 bench --device wgpu --profile`)")
    L.append("")
    prof_rows = []
    notes = []
    for model, dtype in configs:
        for ctx in contexts:
            tag = f"profile-{model}-{dtype}-{ctx}"
            status = _status(results, tag)
            if status is None:
                continue
            bench = load_json(os.path.join(results, tag + ".json"))
            if status != "ok" or bench is None:
                notes.append(f"- {model} {dtype} {ctx}: {status}")
                continue
            if "profile" not in bench:
                notes.append(f"- {model} {dtype} {ctx}: profile absent from the JSON")
                continue
            kinds, total, why = profile_rows(bench["profile"])
            if kinds is None:
                if not why:
                    said = stderr_why(os.path.join(results, tag + ".err"))
                    why = "null" + (f" (its stderr: {said})" if said else "")
                notes.append(f"- {model} {dtype} {ctx}: profile {why}")
                continue
            total = total or sum(r.get("seconds_per_token") or 0 for r in kinds) or None
            if total:
                notes.append(f"- {model} {dtype} {ctx}: {total * 1e3:.3f} ms of GPU time per decode token")
            for r in sorted(kinds, key=lambda r: -(r.get("seconds_per_token") or 0)):
                spt = r.get("seconds_per_token")
                share = r.get("share")
                if not isinstance(share, (int, float)):
                    share = spt / total if total and isinstance(spt, (int, float)) else None
                prof_rows.append(f"| {model} | {dtype} | {ctx} | {r.get('kind', ABSENT)} | "
                                 f"{num(spt * 1e3 if isinstance(spt, (int, float)) else None, '.3f')} | "
                                 f"{num(r.get('dispatches_per_token'), '.1f')} | "
                                 f"{num(r.get('gb_per_second'), '.1f')} | {num(share, '.0%')} |")
    if prof_rows:
        L.append("| model | dtype | context | kind | ms/token | dispatches/tok | GB/s | share |")
        L.append("|---|---|---|---|---|---|---|---|")
        L.extend(prof_rows)
        L.append("")
    L.extend(notes or ([] if prof_rows else ["not run"]))
    L.append("")

    # Stages.
    L.append("## Stages")
    L.append("")
    L.append("| stage | status | seconds |")
    L.append("|---|---|---|")
    for line in _lines(os.path.join(results, "stages.tsv")):
        name, status, secs = (line.split("\t") + ["", "", ""])[:3]
        L.append(f"| {name} | {status} | {secs} |")
    L.append("")
    L.append(f"Total {m.get('total_seconds', ABSENT)} s of a {m.get('budget', '?')} s budget. "
             f"Result: {m.get('verdict', ABSENT)}")
    failures = list(_lines(os.path.join(results, "failures.txt")))
    for f in failures:
        L.append(f"- FAILED: {f}")
    text = "\n".join(L) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    print(text)
    return 0


def _fmt_work(v):
    if isinstance(v, bool) or v is None:
        return ABSENT if v is None else str(v)
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.1f}"
    return f"{v:.0f}" if isinstance(v, (int, float)) else str(v)


def _read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return ""


def _lines(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return []


def _status(results, tag):
    """The stage status gpu-check recorded for one bench (None: never planned)."""
    for line in _lines(os.path.join(results, "runs.tsv")):
        t, status = (line.split("\t") + [""])[:2]
        if t == tag:
            return status
    return None


def main(argv):
    if len(argv) >= 2 and argv[0] == "adapter":
        return cmd_adapter(argv[1])
    if len(argv) >= 2 and argv[0] == "libtest":
        return cmd_libtest(argv[1])
    if len(argv) >= 2 and argv[0] == "torch":
        return cmd_torch(argv[1])
    if len(argv) >= 3 and argv[0] == "table":
        return cmd_table(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
