"""The cases `make_sampler_reference_fixtures.py` runs: the logits made here,
contexts with repeats, and the parameters of each case (named as the engine's
`SamplingParams` fields). `expect` states what a case was built to exercise
(XTC applied or not, which tokens DRY penalises); the script checks it."""

import numpy as np
import torch


def normal(n, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * 2.0).numpy().astype(np.float32)


def sigma_ties(n=1.0):
    """Normal logits with a tie of four just above the top-nσ cut (n = 1) and a tie
    of three just below it, 0.05 either side (iterated, as the ties move σ)."""
    x = normal(1000, 21).astype(np.float64)
    for _ in range(20):
        cut = x.max() - n * x.std()
        x[[10, 20, 30, 40]] = cut + 0.05
        x[[50, 60, 70]] = cut - 0.05
    return x.astype(np.float32)


def own_logits(shared):
    return {
        "sigma_ties": sigma_ties(),
        "flat": [0.5] * 6 + [-np.inf] * 2,  # σ = 0: top-nσ keeps every live token
        "small": [1.0, 3.0, 2.0, 3.0, -np.inf, -1.0, 0.5, 2.5],
        # Two tied top choices at p ≈ 0.454 each, then three live tokens.
        "xtc_pair": [2.0, 2.0, 0.0, -1.0, -np.inf, -2.0],
    }


def top_ids(x, k):
    return [int(i) for i in np.lexsort((np.arange(len(x)), -x.astype(np.float64)))[:k]]


def letters(x, text):
    """A context spelled in letters, `a` the most likely token, `b` the next..."""
    ids = top_ids(x, 26)
    return [ids[ord(c) - ord("a")] for c in text.replace(" ", "")]


def dry(multiplier=0.8, base=1.75, allowed_length=2, penalty_last_n=0, breakers=()):
    return {"dry": dict(multiplier=multiplier, base=base, allowed_length=allowed_length,
                        penalty_last_n=penalty_last_n, breakers=list(breakers))}


def xtc(threshold, probability):
    return {"xtc": dict(threshold=threshold, probability=probability)}


def CASES(logits):
    n, g, ni = logits["normal"], logits["normal_gpt2"], logits["neg_inf"]
    L = lambda text: letters(n, text)  # noqa: E731
    first_inf = int(np.nonzero(np.isneginf(ni))[0][0])
    cases = []

    # Top-nσ (after temperature; σ over the finite logits only).
    for k in [0.5, 1.0, 2.0, 3.0]:
        cases.append(dict(logits="normal", params=dict(top_n_sigma=k)))
    cases += [
        dict(logits="normal", params=dict(temperature=0.7, top_n_sigma=1.0)),
        dict(logits="normal", params=dict(top_n_sigma=10.0, top_k=60)),
        dict(logits="normal", params=dict(top_n_sigma=3.0, top_k=20)),
        dict(logits="normal", params=dict(temperature=1.3, top_n_sigma=2.5, min_p=0.05)),
        dict(logits="neg_inf", params=dict(top_n_sigma=1.5)),
        dict(logits="sigma_ties", params=dict(top_n_sigma=1.0)),
        dict(logits="ties", params=dict(top_n_sigma=0.5)),
        dict(logits="peaked", params=dict(top_n_sigma=1.0)),
        dict(logits="normal_gpt2", params=dict(temperature=1.3, top_n_sigma=1.0)),
        dict(logits="flat", params=dict(top_n_sigma=1.0)),
        dict(logits="small", params=dict(top_n_sigma=0.8)),
    ]

    # XTC: the coin below the probability applies it, above it does not.
    cases += [
        dict(logits="normal", params=dict(temperature=0.7, top_k=40, **xtc(0.05, 0.5)), xtc_coin=0.3,
             expect=dict(xtc_applied=True)),
        dict(logits="normal", params=dict(temperature=0.7, top_k=40, **xtc(0.05, 0.5)), xtc_coin=0.7,
             expect=dict(xtc_applied=False)),
        dict(logits="normal", params=dict(min_p=0.02, **xtc(0.1, 1.0)), xtc_coin=0.999,
             expect=dict(xtc_applied=False)),  # one token above 0.1
        dict(logits="normal", params=dict(top_k=10, **xtc(0.1, 1.0)), xtc_coin=0.999,
             expect=dict(xtc_applied=True)),  # after top-k, probabilities renormalised
        dict(logits="normal", params=dict(temperature=0.5, top_k=50, **xtc(0.02, 0.0)), xtc_coin=0.0,
             expect=dict(xtc_applied=False)),  # probability 0: never
        dict(logits="normal", params=dict(temperature=0.5, top_k=50, **xtc(0.02, 0.25)), xtc_coin=0.1,
             expect=dict(xtc_applied=True)),
        dict(logits="normal", params=dict(temperature=0.5, top_k=50, **xtc(0.6, 1.0)), xtc_coin=0.5,
             expect=dict(xtc_applied=False)),  # above 0.5: at most one token qualifies
        dict(logits="ties", params=dict(top_k=20, **xtc(0.05, 0.5)), xtc_coin=0.2,
             expect=dict(xtc_applied=True)),  # eight tied above: the highest id stays
        dict(logits="ties", params=dict(top_k=20, **xtc(0.02, 0.5)), xtc_coin=0.2,
             expect=dict(xtc_applied=True)),  # four tied least likely above: id 999 stays
        dict(logits="neg_inf", params=dict(temperature=0.5, min_p=0.01, **xtc(0.0, 0.5)), xtc_coin=0.2,
             expect=dict(xtc_applied=True)),  # threshold 0: the least likely live token stays
        dict(logits="peaked", params=dict(top_k=30, **xtc(0.001, 1.0)), xtc_coin=0.5,
             expect=dict(xtc_applied=False)),
        dict(logits="xtc_pair", params=xtc(0.45, 0.5), xtc_coin=0.4999, expect=dict(xtc_applied=True)),
        dict(logits="normal_gpt2", params=dict(temperature=0.5, top_k=100, **xtc(0.03, 0.9)), xtc_coin=0.5,
             expect=dict(xtc_applied=True)),
    ]

    # DRY (text-generation-webui's), over the normal logits: `a` is the most likely token.
    cases += [
        dict(logits="normal", params=dict(min_p=0.01, **dry()), context=L("abcdxyabc"),
             expect=dict(dry_penalised=sorted(L("d")))),
        dict(logits="normal", params=dict(min_p=0.01, **dry(breakers=L("b"))), context=L("abcdxyabc"),
             expect=dict(dry_penalised=[])),  # the repeat stops at the breaker: length 1 < 2
        dict(logits="normal", params=dict(min_p=0.01, **dry(allowed_length=1, breakers=L("b"))),
             context=L("abcdxyabc"), expect=dict(dry_penalised=sorted(L("d")))),
        dict(logits="normal", params=dict(min_p=0.01, **dry(breakers=L("c"))), context=L("abcdabc"),
             expect=dict(dry_penalised=[])),  # the last token is a breaker
        dict(logits="normal", params=dict(min_p=0.01, **dry(breakers=L("d"))), context=L("abcdabc"),
             expect=dict(dry_penalised=[])),  # the follower is a breaker
        dict(logits="normal", params=dict(min_p=0.01, **dry()), context=L("aaaaaa"),
             expect=dict(dry_penalised=sorted(L("a")))),  # overlapping repeats: length 5
        dict(logits="normal", params=dict(min_p=0.01, **dry(multiplier=1.5, base=2.0)),
             context=L("xabcybczabc"), expect=dict(dry_penalised=sorted(L("yz")))),
        dict(logits="normal", params=dict(min_p=0.01, **dry(penalty_last_n=5)), context=L("abcdxyabc"),
             expect=dict(dry_penalised=[])),
        dict(logits="normal", params=dict(min_p=0.01, **dry(penalty_last_n=8)), context=L("abcdxyabc"),
             expect=dict(dry_penalised=sorted(L("d")))),  # length 2 in the window, not 3
        # 60 repeated tokens: text-generation-webui stops counting at 50.
        dict(logits="normal", params=dict(min_p=0.01, **dry(multiplier=1e-8, base=1.5)),
             context=list(range(100, 160)) + L("a") + list(range(100, 160)), expect=dict(dry_penalised=L("a"))),
        dict(logits="neg_inf", params=dict(top_k=50, **dry()),
             context=[7, 8, 9, first_inf, 5, 7, 8, 9], expect=dict(dry_penalised=[first_inf])),
        dict(logits="normal", params=dict(temperature=0.7, top_p=0.9, repetition_penalty=1.2, **dry(0.5, 1.5, 3)),
             context=L("abcdefgabcdef"), expect=dict(dry_penalised=L("g"))),
        dict(logits="normal_gpt2", params=dict(top_k=40, **dry()), context=letters(g, "abcdeabcd"),
             expect=dict(dry_penalised=letters(g, "e"))),
    ]

    # Presence / frequency: counted over the generated tokens only (after prompt_len).
    prompt = L("ag") + [17]
    generated = L("bcbdbc")
    ctx = dict(context=prompt + generated, prompt_len=len(prompt))
    cases += [
        dict(logits="normal", params=dict(min_p=0.01, presence_penalty=0.5), **ctx),
        dict(logits="normal", params=dict(min_p=0.01, frequency_penalty=0.3), **ctx),
        dict(logits="normal", params=dict(min_p=0.01, presence_penalty=1.0, frequency_penalty=0.5), **ctx),
        dict(logits="normal", params=dict(min_p=0.01, presence_penalty=-0.5, frequency_penalty=-0.2), **ctx),
        dict(logits="normal", params=dict(temperature=0.0, presence_penalty=2.0), context=L("a"), prompt_len=0),
        dict(logits="normal", params=dict(temperature=0.0, presence_penalty=2.0), context=L("a"), prompt_len=1),
        dict(logits="neg_inf", params=dict(top_k=30, presence_penalty=0.4, frequency_penalty=0.4),
             context=[3, first_inf] + top_ids(ni, 3) * 2, prompt_len=1),
        dict(logits="normal_gpt2", params=dict(temperature=0.7, top_k=50, presence_penalty=0.6, frequency_penalty=0.6),
             context=letters(g, "abab"), prompt_len=1),
        dict(logits="normal", params=dict(top_k=30, repetition_penalty=1.3, presence_penalty=0.3,
                                          frequency_penalty=0.2, **dry()), context=L("abcdxyabc"), prompt_len=2,
             expect=dict(dry_penalised=sorted(L("d")))),
    ]

    # Mirostat, one step from a given μ (several steps: MIROSTAT_RUNS).
    cases += [
        dict(logits="normal", params=dict(mirostat=dict(tau=5.0, eta=0.1)), mirostat_mu=10.0),
        dict(logits="normal", params=dict(mirostat=dict(tau=3.0, eta=0.1)), mirostat_mu=4.5),
        dict(logits="normal", params=dict(temperature=0.7, top_k=50, mirostat=dict(tau=3.0, eta=0.1)), mirostat_mu=6.0),
        dict(logits="ties", params=dict(mirostat=dict(tau=1.5, eta=0.1)), mirostat_mu=3.0),  # one of eight tied
        dict(logits="ties", params=dict(mirostat=dict(tau=2.0, eta=0.1)), mirostat_mu=4.0),  # the eight tied
        dict(logits="neg_inf", params=dict(mirostat=dict(tau=4.0, eta=0.2)), mirostat_mu=7.0),
        dict(logits="peaked", params=dict(mirostat=dict(tau=0.5, eta=0.1)), mirostat_mu=0.5),
        dict(logits="normal_gpt2", params=dict(temperature=0.8, mirostat=dict(tau=5.0, eta=0.1)), mirostat_mu=9.0),
        dict(logits="normal", params=dict(presence_penalty=0.5, mirostat=dict(tau=3.0, eta=0.1)),
             context=L("ab"), mirostat_mu=5.0),
    ]
    return cases


# Several steps each: (logits, rank of the chosen token among the kept, most likely 0).
MIROSTAT_RUNS = [
    dict(params=dict(mirostat=dict(tau=3.0, eta=0.1)),
         steps=[("normal", 0), ("normal", 3), ("neg_inf", 1), ("ties", 7), ("normal", 10), ("peaked", 0)]),
    dict(params=dict(temperature=0.8, mirostat=dict(tau=5.0, eta=1.0)),
         steps=[("normal", 2), ("normal", 20), ("ties", 0), ("neg_inf", 5), ("normal", 1)]),
    dict(params=dict(mirostat=dict(tau=1.5, eta=0.5)),
         steps=[("ties", 0), ("ties", 0), ("normal", 0), ("xtc_pair", 1), ("normal", 4)]),
    dict(params=dict(top_k=100, mirostat=dict(tau=6.0, eta=0.3)),
         steps=[("normal_gpt2", 5), ("normal_gpt2", 0), ("normal", 30), ("normal_gpt2", 2)]),
]
