"""Golden distributions of `transformers`' own logit processors, for the engine's
sampling processors (`engine/src/decoding/processors.rs`).

A few logit vectors (random normal with fixed torch seeds, one with exact ties
at the top-k / top-p cut, one with -inf entries, one peaked; vocabulary 1000,
and one of GPT-2's 50257) go through 19 chains of
`RepetitionPenaltyLogitsProcessor`, `NoRepeatNGramLogitsProcessor`,
`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper` and
`MinPLogitsWarper`, in the order `generate` applies them. The softmax of the
result is stored sparsely (support ids and their probabilities) in
`tests/fixtures/processors.json`, with the logits (shortest decimal of each
float32; both sides parse it as a double and round to float32).

Ties at the top-p cut: `TopPLogitsWarper` uses torch's unstable sort, so which
of several tied tokens straddling the cut survive is machine-dependent. Where it
matters, the chain is run a second time with `torch.sort` made stable over the
ids in descending order (tied tokens then rank lower ids first, the engine's
rule), recorded as `tie_rule_support` / `tie_rule_probs`.

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    ../venv/bin/python tests/golden/make_processor_fixtures.py
"""

import json
import os
import sys
from contextlib import contextmanager

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "processors.json")


def normal(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * 2.0


def ties():
    x = normal(1000, 2)
    x[[17, 101, 333, 334, 500, 640, 777, 901]] = 8.0  # 8 tied at the top: ~93% of the mass
    x[[3, 250, 600, 999]] = 7.0  # ranks 9-12: a tie across the top-k = 10 cut
    return x


def neg_inf():
    x = normal(1000, 3)
    g = torch.Generator().manual_seed(30)
    x[torch.randperm(1000, generator=g)[:300]] = -float("inf")
    return x


def peaked():
    x = normal(1000, 4)
    x[421] = 30.0
    return x


def encode(x):
    """Shortest float32 decimals (strings for -inf), and the float32 tensor they parse to."""
    text = ["-inf" if np.isneginf(v) else np.format_float_positional(np.float32(v), unique=True, trim="-")
            for v in x.numpy()]
    values = [float(t) for t in text]
    return [v if v != -float("inf") else "-inf" for v in values], torch.tensor([values], dtype=torch.float32)


LOGITS = {
    "normal": normal(1000, 1),
    "ties": ties(),
    "neg_inf": neg_inf(),
    "peaked": peaked(),
    "normal_gpt2": normal(50257, 5),
}


def top_ids(name, k):
    return torch.argsort(LOGITS[name], descending=True, stable=True)[:k].tolist()


def repeats(name):
    """A context whose last token was followed before by the two most likely tokens."""
    t = top_ids(name, 6)
    context = [t[3], t[0], t[5], t[2], t[3], t[1], t[4], t[2], t[3]]
    if name == "neg_inf":  # a -inf token in the context stays -inf under the penalty
        context.insert(0, int(torch.nonzero(torch.isinf(LOGITS[name]))[0]))
    return context


CHAINS = [
    ("normal", dict(temperature=0.7)),
    ("normal", dict(temperature=1.3, top_k=50)),
    ("normal", dict(top_p=0.9)),
    ("normal", dict(temperature=0.7, top_k=50, top_p=0.9)),
    ("normal", dict(min_p=0.05)),
    ("normal", dict(temperature=1.3, min_p=0.2)),
    ("normal", dict(top_k=60000, top_p=1.0)),
    ("normal", dict(temperature=0.7, top_p=0.5, repetition_penalty=1.3), "repeats"),
    ("normal", dict(no_repeat_ngram_size=2, top_k=50), "repeats"),
    ("normal", dict(temperature=1.3, top_p=0.9, min_p=0.05, repetition_penalty=1.3, no_repeat_ngram_size=3), "repeats"),
    ("ties", dict(top_k=10)),
    ("ties", dict(top_p=0.5)),
    ("ties", dict(top_p=0.9, min_p=0.05)),
    ("neg_inf", dict(temperature=0.7, top_k=50, top_p=0.9, repetition_penalty=1.3), "repeats"),
    ("neg_inf", dict(top_k=60000, min_p=0.2)),
    ("peaked", dict(top_p=0.5)),
    ("peaked", dict(top_k=1)),
    ("normal_gpt2", dict(temperature=0.7, top_p=0.9)),
    ("normal_gpt2", dict(top_k=50, min_p=0.05, repetition_penalty=1.3, no_repeat_ngram_size=2), "repeats"),
]


def processors(params):
    """transformers' processors in `generate`'s order (`_get_logits_processor`)."""
    out = []
    if "repetition_penalty" in params:
        out.append(RepetitionPenaltyLogitsProcessor(params["repetition_penalty"]))
    if "no_repeat_ngram_size" in params:
        out.append(NoRepeatNGramLogitsProcessor(params["no_repeat_ngram_size"]))
    if "temperature" in params:
        out.append(TemperatureLogitsWarper(params["temperature"]))
    if "top_k" in params:
        out.append(TopKLogitsWarper(params["top_k"]))
    if "top_p" in params:
        out.append(TopPLogitsWarper(params["top_p"]))
    if "min_p" in params:
        out.append(MinPLogitsWarper(params["min_p"]))
    return out


@contextmanager
def ties_rank_lower_ids_first():
    original = torch.sort

    def sort(input, dim=-1, descending=False, stable=False):
        assert dim == -1 and not descending
        values, indices = original(input.flip(-1), dim=-1, stable=True)
        return values, input.shape[-1] - 1 - indices

    torch.sort = sort
    try:
        yield
    finally:
        torch.sort = original


def run(scores, context, params):
    input_ids = torch.tensor([context if context else [0]])
    for p in processors(params):
        scores = p(input_ids, scores.clone())
    probs = torch.softmax(scores, dim=-1)[0]
    support = torch.nonzero(probs > 0).flatten()
    return support.tolist(), [float(probs[i]) for i in support]


def main():
    fixture = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "logits": {},
        "chains": [],
    }
    tensors = {}
    for name, x in LOGITS.items():
        fixture["logits"][name], tensors[name] = encode(x)
    for entry in CHAINS:
        name, params = entry[0], entry[1]
        context = repeats(name) if len(entry) > 2 else []
        support, probs = run(tensors[name], context, params)
        case = {"logits": name, "params": params, "context": context, "support": support, "probs": probs}
        with ties_rank_lower_ids_first():
            tie_support, tie_probs = run(tensors[name], context, params)
        if tie_support != support:
            case["tie_rule_support"], case["tie_rule_probs"] = tie_support, tie_probs
        fixture["chains"].append(case)
        print(f"{name} {params}: support {len(support)}" + (" (tie rule differs)" if tie_support != support else ""),
              file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
