"""Reference distributions for the samplers `transformers` does not have (top-nσ,
XTC, DRY, mirostat v2, presence/frequency penalties), for
`engine/tests/samplers_match_reference.rs`.

Each case runs one row of fixed logits through the engine's default sampler
order (`SamplingParams`' `Stage::DEFAULT_ORDER`): repetition penalty, presence/
frequency, DRY, temperature, top-nσ, top-k, top-p, min-p, XTC, mirostat. The
stages `transformers` has are its own processors (`RepetitionPenaltyLogitsProcessor`,
`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`,
`MinPLogitsWarper`); the others are the written references in
`reference_samplers.py` (sources cited there). Temperature 0 is greedy: the
penalties, then the argmax. The softmax of the result is stored sparsely
(support ids and probabilities) in `tests/fixtures/sampler_references.json`.

Logits: the five vectors of `tests/fixtures/processors.json` (seeded normal,
ties at the top-k / top-p cuts, -inf entries, peaked, GPT-2's 50257; referred to
by name, not copied), plus a few made here: ties straddling the top-nσ cut, tied
top choices for XTC, a flat row (σ = 0), a short hand-written row. Contexts with
repeats exercise DRY and the penalties; XTC runs with its coin below and above
the probability; mirostat runs several steps from μ = 2τ with given chosen
tokens, μ recorded before each step.

Every cut is checked to be clear of the float rounding of either side: no live
logit within 1e-4 of a top-nσ cut, no live probability within 1e-6 of an XTC
threshold, no surprise within 1e-4 of μ (the script fails otherwise).

Run from the repository root (pinned: numpy 2.4, torch 2.15, transformers 5.23.0):

    /work/main/target/bench/native-venv/bin/python tests/golden/make_sampler_reference_fixtures.py
"""

import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_samplers as ref  # noqa: E402
from sampler_reference_cases import CASES, MIROSTAT_RUNS, own_logits  # noqa: E402

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__
assert np.__version__.startswith("2."), np.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "tests", "fixtures", "processors.json")
OUT = os.path.join(ROOT, "tests", "fixtures", "sampler_references.json")

MARGINS = {"top_n_sigma": 1e-4, "xtc": 1e-6, "mirostat": 1e-4}


def parse(values):
    return np.array([-np.inf if v == "-inf" else v for v in values], dtype=np.float32)


def encode(x):
    """Shortest float32 decimals, "-inf" for -inf."""
    return ["-inf" if np.isneginf(v) else float(np.format_float_positional(v, unique=True, trim="-")) for v in x]


def short(v):
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def transformers_stage(processor, x, context):
    scores = torch.from_numpy(x.copy()).unsqueeze(0)
    ids = torch.tensor([context if context else [0]])
    return processor(ids, scores)[0].numpy().astype(np.float32)


def chain(x, params, context, prompt_len, coin, mu, info):
    """One step through the default order; returns the final logits, and in `info`
    how close each cut came to a value and what XTC and DRY did."""
    x = x.copy()
    if "repetition_penalty" in params:
        x = transformers_stage(RepetitionPenaltyLogitsProcessor(params["repetition_penalty"]), x, context)
    if "presence_penalty" in params or "frequency_penalty" in params:
        x = ref.presence_frequency(x, context[prompt_len:], params.get("presence_penalty", 0.0),
                                   params.get("frequency_penalty", 0.0))
    if "dry" in params:
        d = params["dry"]
        x, info["dry_penalised"] = ref.dry(x, context, d["multiplier"], d["base"], d["allowed_length"],
                                              d["penalty_last_n"], d["breakers"])
    t = params.get("temperature", 1.0)
    if t == 0.0:
        best = int(np.argmax(x))
        out = np.full_like(x, -np.inf)
        out[best] = 0.0
        return out
    if t != 1.0:
        x = transformers_stage(TemperatureLogitsWarper(t), x, context)
    if "top_n_sigma" in params:
        x, info["top_n_sigma"] = ref.top_n_sigma(x, params["top_n_sigma"])
    if "top_k" in params:
        x = transformers_stage(TopKLogitsWarper(params["top_k"]), x, context)
    if "top_p" in params:
        x = transformers_stage(TopPLogitsWarper(params["top_p"]), x, context)
    if "min_p" in params:
        x = transformers_stage(MinPLogitsWarper(params["min_p"]), x, context)
    if "xtc" in params:
        x, info["xtc_applied"], info["xtc"] = ref.xtc(x, params["xtc"]["threshold"],
                                                            params["xtc"]["probability"], coin)
    if "mirostat" in params:
        x, info["mirostat"] = ref.mirostat_truncate(x, mu)
    return x


def sparse(x):
    probs = ref.softmax(x)
    support = np.nonzero(probs > 0)[0]
    return [int(i) for i in support], [short(probs[i]) for i in support]


def check(name, info, expect):
    """Every cut clear of rounding; what the case was built to exercise did happen."""
    for kind, limit in MARGINS.items():
        if kind in info:
            assert info[kind] > limit, f"{name}: a {kind} cut is {info[kind]:.2e} from a value (rounding decides it)"
    for key, want in expect.items():
        got = sorted(info[key]) if key == "dry_penalised" else info[key]
        assert got == want, f"{name}: {key} is {got}, the case wants {want}"


def main():
    with open(SHARED) as f:
        shared = {k: parse(v) for k, v in json.load(f)["logits"].items()}
    own = {k: parse(encode(np.asarray(v, dtype=np.float32))) for k, v in own_logits(shared).items()}
    logits = {**shared, **own}
    fixture = {
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
        "shared_logits": "processors.json",
        "logits": {k: encode(v) for k, v in own.items()},
        "cases": [],
        "mirostat_runs": [],
    }
    for case in CASES(logits):
        name, params = case["logits"], case["params"]
        context, prompt_len = case.get("context", []), case.get("prompt_len", 0)
        coin, mu = case.get("xtc_coin"), case.get("mirostat_mu")
        info = {}
        x = chain(logits[name], params, context, prompt_len, coin, mu, info)
        label = f"{name} {json.dumps(params)}" + (f" coin {coin}" if coin is not None else "")
        check(label, info, case.get("expect", {}))
        support, probs = sparse(x)
        out = {"logits": name, "params": params, "context": context, "prompt_len": prompt_len,
               "support": support, "probs": probs}
        if coin is not None:
            out["xtc_coin"] = coin
        if mu is not None:
            out["mirostat_mu"] = mu
        fixture["cases"].append(out)
        print(f"{label}: support {len(support)}", file=sys.stderr)
    for run in MIROSTAT_RUNS:
        params, tau, eta = run["params"], run["params"]["mirostat"]["tau"], run["params"]["mirostat"]["eta"]
        mu = 2.0 * tau
        steps = []
        for name, rank in run["steps"]:
            info = {}
            x = chain(logits[name], params, [], 0, None, mu, info)
            check(f"mirostat {name} mu {mu}", info, {})
            support, probs = sparse(x)
            by_prob = sorted(range(len(support)), key=lambda k: (-probs[k], support[k]))
            k = by_prob[min(rank, len(by_prob) - 1)]
            chosen, p = support[k], float(ref.softmax(x)[support[k]])
            steps.append({"logits": name, "mu": mu, "chosen": chosen, "support": support, "probs": probs})
            mu = ref.mirostat_update(mu, tau, eta, p)
        fixture["mirostat_runs"].append({"params": params, "steps": steps, "final_mu": mu})
        print(f"mirostat {params}: μ {[round(s['mu'], 4) for s in steps]} -> {mu:.4f}, supports "
              f"{[len(s['support']) for s in steps]}", file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
