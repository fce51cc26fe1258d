"""Golden distributions of `transformers`' own logit processors, for the engine's
sampling processors (`engine/src/decoding/processors/`).

A few logit vectors (random normal with fixed torch seeds, one with exact ties
at the top-k / top-p cut, one with -inf entries, one peaked; vocabulary 1000,
and one of GPT-2's 50257) go through 19 chains of
`RepetitionPenaltyLogitsProcessor`, `NoRepeatNGramLogitsProcessor`,
`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper` and
`MinPLogitsWarper`, in the order `generate` applies them (`chains`; test:
`engine/tests/processors_match_transformers.rs`). The softmax of the result is
stored sparsely (support ids and their probabilities) in
`tests/fixtures/processors.json`, with the logits (shortest decimal of each
float32; both sides parse it as a double and round to float32).

`warper_chains` add `TypicalLogitsWarper`, `EpsilonLogitsWarper`,
`EtaLogitsWarper` and `TopHLogitsWarper`, alone at edge values (typical_p 1e-6
and 1, ε and η tiny and large, top-H 0.01 and 1) and chained with the others
(test: `engine/tests/truncation_samplers_match_transformers.rs`); two more
vectors put a tie across top-H's 100 candidates (`ties_at_100`) and tokens of
probability 0 among them (`sparse`). `guidance_chains` put
`UnbatchedClassifierFreeGuidanceLogitsProcessor` first, its model standing in
with the fixed `unconditional` logits, sampling or greedy (`greedy`: the
argmax after guidance and the penalties, as `do_sample=False`; test:
`engine/tests/guidance_matches_transformers.rs`).

Ties at the top-p or top-H cut: `TopPLogitsWarper` sorts with torch's unstable
sort and `TopHLogitsWarper` ranks with `torch.topk`, so which of several tied
tokens straddling the cut survive is machine-dependent. Where it matters, the
chain is run a second time with `torch.sort` made stable over the ids in
descending order and `torch.topk` a stable descending sort (tied tokens then
rank lower ids first, the engine's rule), recorded as `tie_rule_support` /
`tie_rule_probs`.

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    ../venv/bin/python tests/golden/make_processor_fixtures.py
"""

import json
import os
import sys
from collections import namedtuple
from contextlib import contextmanager

import numpy as np
import torch
import transformers
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.generation.logits_process import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopHLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
    UnbatchedClassifierFreeGuidanceLogitsProcessor,
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


def ties_at_100():
    """Ranks 95-104 tied: top-H's 100 candidates end inside the tie."""
    x = normal(1000, 6)
    order = torch.argsort(x, descending=True, stable=True)
    x[order[94:104]] = float(x[order[99]])
    return x


def sparse():
    """950 of 1000 -inf: top-H's 100 candidates include tokens of probability 0."""
    x = normal(1000, 7)
    g = torch.Generator().manual_seed(70)
    x[torch.randperm(1000, generator=g)[:950]] = -float("inf")
    return x


LOGITS = {
    "normal": normal(1000, 1),
    "ties": ties(),
    "neg_inf": neg_inf(),
    "peaked": peaked(),
    "normal_gpt2": normal(50257, 5),
    "ties_at_100": ties_at_100(),
    "sparse": sparse(),
    "unconditional": normal(1000, 8),
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


# typical-p, ε- and η-cutoff, top-H, alone at edge values and chained with the
# processors above (transformers' order; `generate` leaves out typical_p = 1,
# and ε or η outside (0, 1)).
WARPER_CHAINS = [
    ("normal", dict(typical_p=0.9)),
    ("normal", dict(typical_p=0.5)),
    ("normal", dict(typical_p=0.2)),
    ("normal", dict(typical_p=0.999)),
    ("normal", dict(typical_p=1e-6)),
    ("normal", dict(typical_p=1.0)),
    ("ties", dict(typical_p=0.5)),
    ("ties", dict(typical_p=0.95)),
    ("neg_inf", dict(temperature=0.7, typical_p=0.9)),
    ("peaked", dict(typical_p=0.9)),
    ("sparse", dict(typical_p=0.8)),
    ("normal_gpt2", dict(typical_p=0.05)),
    ("normal", dict(epsilon_cutoff=3e-4)),
    ("normal", dict(epsilon_cutoff=1e-3)),
    ("normal", dict(epsilon_cutoff=0.02)),
    ("normal", dict(epsilon_cutoff=1e-12)),
    ("normal", dict(epsilon_cutoff=0.5)),
    ("ties", dict(epsilon_cutoff=0.1)),
    ("ties", dict(epsilon_cutoff=0.2)),
    ("neg_inf", dict(epsilon_cutoff=1e-3)),
    ("normal_gpt2", dict(epsilon_cutoff=3e-4)),
    ("normal", dict(eta_cutoff=3e-4)),
    ("normal", dict(eta_cutoff=2e-3)),
    ("normal", dict(eta_cutoff=0.1)),
    ("normal", dict(eta_cutoff=0.9)),
    ("normal", dict(eta_cutoff=1e-9)),
    ("ties", dict(eta_cutoff=0.5)),
    ("neg_inf", dict(temperature=1.3, eta_cutoff=4e-3)),
    ("peaked", dict(eta_cutoff=0.01)),
    ("normal_gpt2", dict(top_k=300, eta_cutoff=2e-3)),
    ("normal", dict(top_h=0.4)),
    ("normal", dict(top_h=0.8)),
    ("normal", dict(top_h=1.0)),
    ("normal", dict(top_h=0.01)),
    ("ties", dict(top_h=0.5)),
    ("ties", dict(top_h=0.9)),
    ("ties_at_100", dict(top_h=1.0)),
    ("ties_at_100", dict(top_h=0.99)),
    ("neg_inf", dict(temperature=0.7, top_h=0.7)),
    ("peaked", dict(top_h=0.9)),
    ("sparse", dict(top_h=0.9)),
    ("sparse", dict(top_h=1.0)),
    ("normal_gpt2", dict(top_h=0.6)),
    ("normal", dict(temperature=0.7, top_k=50, typical_p=0.9)),
    ("normal", dict(temperature=1.3, top_p=0.95, min_p=0.02, typical_p=0.8, epsilon_cutoff=1e-3,
                    eta_cutoff=1e-3, repetition_penalty=1.3), "repeats"),
    ("normal", dict(top_h=0.9, top_k=30, top_p=0.9)),
    ("normal", dict(temperature=0.7, top_h=0.95, min_p=0.1, epsilon_cutoff=5e-3)),
    ("neg_inf", dict(top_h=0.8, epsilon_cutoff=1e-3, no_repeat_ngram_size=2), "repeats"),
    ("ties", dict(top_k=10, typical_p=0.5)),
    ("ties", dict(top_h=0.8, top_p=0.5, eta_cutoff=0.05)),
    ("normal_gpt2", dict(temperature=0.8, top_h=0.7, eta_cutoff=3e-4)),
    ("normal_gpt2", dict(top_k=500, typical_p=0.6, epsilon_cutoff=2e-3, repetition_penalty=1.3), "repeats"),
]

# Classifier-free guidance on fixed logits: `unconditional` stands for the
# model's logits on the negative prompt. `greedy`: do_sample=False (the
# warpers are left out and the argmax is recorded; transformers guides greedy
# search too). Scale 1 is no guidance (`generate` leaves the processor out).
GUIDANCE_CHAINS = [
    ("normal", dict(guidance_scale=1.5)),
    ("normal", dict(guidance_scale=3.0)),
    ("normal", dict(guidance_scale=0.5)),
    ("normal", dict(guidance_scale=-1.0)),
    ("normal", dict(guidance_scale=1.0, repetition_penalty=1.3), "repeats"),
    ("neg_inf", dict(guidance_scale=1.5, temperature=0.7)),
    ("ties", dict(guidance_scale=2.0, top_k=10)),
    ("normal", dict(guidance_scale=1.5, repetition_penalty=1.3, temperature=0.7, top_k=50, top_p=0.9), "repeats"),
    ("normal", dict(guidance_scale=2.0, typical_p=0.9, epsilon_cutoff=1e-3)),
    ("normal", dict(guidance_scale=3.0, no_repeat_ngram_size=2, min_p=0.001, top_h=0.8), "repeats"),
    ("normal", dict(guidance_scale=1.5, greedy=True)),
    ("normal", dict(guidance_scale=3.0, repetition_penalty=1.3, greedy=True), "repeats"),
    ("normal", dict(guidance_scale=0.5, no_repeat_ngram_size=2, greedy=True), "repeats"),
]


class FixedModel:
    """Stands for the model in `UnbatchedClassifierFreeGuidanceLogitsProcessor`:
    whatever it is fed, its last logits are the fixed unconditional ones."""

    def __init__(self, logits):
        self.logits = logits

    def __call__(self, input_ids, **kwargs):
        return CausalLMOutputWithPast(logits=self.logits[:, None, :])


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
    if params.get("typical_p", 1.0) < 1.0:
        out.append(TypicalLogitsWarper(params["typical_p"]))
    if 0.0 < params.get("epsilon_cutoff", 0.0) < 1.0:
        out.append(EpsilonLogitsWarper(params["epsilon_cutoff"]))
    if 0.0 < params.get("eta_cutoff", 0.0) < 1.0:
        out.append(EtaLogitsWarper(params["eta_cutoff"]))
    return out


def all_processors(params, unconditional):
    """`generate`'s full order: guidance first, then the penalties and bans, then
    (sampling only) temperature, top-H, top-k, top-p, min-p, typical, ε, η."""
    out = []
    if params.get("guidance_scale", 1.0) != 1.0:
        out.append(UnbatchedClassifierFreeGuidanceLogitsProcessor(params["guidance_scale"], FixedModel(unconditional)))
    first = dict((k, v) for k, v in params.items() if k in ("repetition_penalty", "no_repeat_ngram_size"))
    out += processors(first)
    if params.get("greedy"):
        return out
    if "temperature" in params:
        out.append(TemperatureLogitsWarper(params["temperature"]))
    if "top_h" in params:
        out.append(TopHLogitsWarper(params["top_h"]))
    rest = dict((k, v) for k, v in params.items() if k not in ("temperature", "repetition_penalty", "no_repeat_ngram_size"))
    return out + processors(rest)


Top = namedtuple("Top", ["values", "indices"])


@contextmanager
def ties_rank_lower_ids_first():
    original = torch.sort

    def sort(input, dim=-1, descending=False, stable=False):
        assert dim == -1 and not descending
        values, indices = original(input.flip(-1), dim=-1, stable=True)
        return values, input.shape[-1] - 1 - indices

    def topk(input, k, dim=-1, largest=True, sorted=True):
        assert dim == -1 and largest
        values, indices = original(input, dim=-1, descending=True, stable=True)
        return Top(values[..., :k], indices[..., :k])

    original_topk = torch.topk
    torch.sort, torch.topk = sort, topk
    try:
        yield
    finally:
        torch.sort, torch.topk = original, original_topk


def run(scores, context, params, chain=processors):
    input_ids = torch.tensor([context if context else [0]])
    for p in chain(params):
        scores = p(input_ids, scores.clone())
    if params.get("greedy"):
        return [int(torch.argmax(scores[0]))], [1.0]
    probs = torch.softmax(scores, dim=-1)[0]
    support = torch.nonzero(probs > 0).flatten()
    return support.tolist(), [float(probs[i]) for i in support]


def cases(chains, tensors, chain):
    out = []
    for entry in chains:
        name, params = entry[0], entry[1]
        context = repeats(name) if len(entry) > 2 else []
        support, probs = run(tensors[name], context, params, chain)
        case = {"logits": name, "params": params, "context": context, "support": support, "probs": probs}
        with ties_rank_lower_ids_first():
            tie_support, tie_probs = run(tensors[name], context, params, chain)
        if tie_support != support:
            case["tie_rule_support"], case["tie_rule_probs"] = tie_support, tie_probs
        out.append(case)
        print(f"{name} {params}: support {len(support)}" + (" (tie rule differs)" if tie_support != support else ""),
              file=sys.stderr)
    return out


def main():
    fixture = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "logits": {},
        "chains": [],
    }
    tensors = {}
    for name, x in LOGITS.items():
        fixture["logits"][name], tensors[name] = encode(x)
    fixture["chains"] = cases(CHAINS, tensors, processors)
    chain = lambda params: all_processors(params, tensors["unconditional"])
    fixture["warper_chains"] = cases(WARPER_CHAINS, tensors, chain)
    fixture["guidance_chains"] = cases(GUIDANCE_CHAINS, tensors, chain)
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
