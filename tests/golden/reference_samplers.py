"""Written references for the samplers `transformers` does not have: top-nσ,
XTC, DRY, mirostat v2 and the presence/frequency penalties. Each is plain numpy
over one row of float32 logits (`-inf` where a token is already removed), written
from the paper and the implementation named in its docstring, and returns the new
logits; `make_sampler_reference_fixtures.py` runs them over fixed logits for the
engine's tests (`engine/tests/samplers_match_reference.rs`).

Sources read (pinned by commit):

- llama.cpp, `src/llama-sampling.cpp` at ggml-org/llama.cpp@0344068cf112e524eb3fbdbd58c171870b63e56c:
  `llama_sampler_top_n_sigma_apply`, `llama_sample_xtc_apply`,
  `llama_sampler_mirostat_v2_apply`, `llama_sampler_penalties_apply`,
  `llama_sampler_dry_apply`;
- text-generation-webui, `modules/sampler_hijack.py` at
  oobabooga/text-generation-webui@dceb23c76361066f35531cef3808cf172b6d5a5d:
  `DRYLogitsProcessor` (PR #5677), `MirostatLogitsWarper`; `XTCLogitsWarper`
  (PR #6335) is in the same file's later revisions on its main branch.

Tied tokens rank lower ids first (the engine's rule, as `argmax`): where a
source sorts with an unstable sort (`std::sort`, `torch.sort`) the choice among
tied tokens is the machine's; here it is fixed.
"""

import math

import numpy as np

NEG_INF = np.float32(-np.inf)


def softmax(x):
    """Softmax of float32 logits, computed in float64 and rounded to float32; all
    zeros when every logit is -inf."""
    x = np.asarray(x, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    z = x.astype(np.float64)
    e = np.where(finite, np.exp(z - z[finite].max()), 0.0)
    return (e / e.sum()).astype(np.float32)


def ranked(x):
    """Ids of the live (finite) tokens, most likely first, tied logits lower ids first."""
    x = np.asarray(x, dtype=np.float32)
    ids = np.nonzero(np.isfinite(x))[0]
    order = np.lexsort((ids, -x[ids].astype(np.float64)))
    return ids[order]


def top_n_sigma(x, n):
    """Top-nσ (Tang et al. 2024, "Top-nσ: Not All Logits Are You Need",
    arXiv:2411.07641, Algorithm 1; llama.cpp's `llama_sampler_top_n_sigma_apply`):
    keep the logits `≥ max − n·σ`, where max and σ (the population standard
    deviation) are over the finite logits only; the others become -inf.

    Returns (logits, margin): margin is the distance of the closest finite logit
    to the cut, so a fixture can be checked robust to the summation order."""
    x = np.array(x, dtype=np.float32)
    finite = x[np.isfinite(x)].astype(np.float64)
    if finite.size <= 1:
        return x, math.inf
    sigma = finite.std()  # numpy's std: population (ddof = 0)
    cut = finite.max() - n * sigma
    # σ = 0 (all equal) keeps every live token whatever the rounding.
    margin = float(np.abs(finite - cut).min()) if sigma > 0 else math.inf
    x[np.isfinite(x) & (x.astype(np.float64) < cut)] = NEG_INF
    return x, margin


def xtc(x, threshold, probability, coin):
    """Exclude Top Choices (text-generation-webui PR #6335, `XTCLogitsWarper`;
    llama.cpp's `llama_sample_xtc_apply`): when the step's uniform draw `coin` is
    below `probability` (text-generation-webui skips when `random() >= probability`;
    llama.cpp when `chance > probability`, the same but for a draw exactly equal),
    and at least two live tokens have probability `≥ threshold`, every one of them
    but the least likely is removed. A threshold above 0.5 can never have two such
    tokens (llama.cpp returns early there). Only live tokens (probability > 0)
    count: a token already removed is not a top choice.

    text-generation-webui also leaves the logits unchanged when the newline or
    end-of-text token would be removed; llama.cpp does not, nor does this.

    Returns (logits, applied, margin): margin is the distance of the closest live
    probability to the threshold."""
    x = np.array(x, dtype=np.float32)
    p = softmax(x)
    live = p > 0
    margin = float(np.abs(p[live].astype(np.float64) - threshold).min())
    if not coin < probability:
        return x, False, margin
    above = [i for i in ranked(x) if p[i] > 0 and p[i] >= np.float32(threshold)]
    if len(above) < 2:
        return x, False, margin
    x[above[:-1]] = NEG_INF
    return x, True, margin


def dry(x, context, multiplier, base, allowed_length, penalty_last_n, breakers):
    """DRY, "Don't Repeat Yourself" (text-generation-webui PR #5677,
    `DRYLogitsProcessor.__call__`; llama.cpp's `llama_sampler_dry_apply` computes
    the same lengths with a Z-algorithm): for every earlier occurrence of the
    context's last token, the longest run of tokens ending there that equals the
    run ending the context (stopping at a sequence breaker or at 50 tokens, the
    cap text-generation-webui sets against overflow) is a repeat that the token
    following that occurrence would extend. Each such token, unless a breaker,
    gets `multiplier · base^(length − allowed_length)` subtracted from its logit
    for its longest repeat, if `length ≥ allowed_length`. Nothing happens when
    the last token is a breaker. `penalty_last_n > 0` looks only at the last
    `penalty_last_n` tokens of the context (0: all of it).

    llama.cpp differs in two ways left out here: it has no cap of 50 on the
    length (it clamps the exponent where `base^e` would overflow a float) and it
    matches multi-token breakers."""
    x = np.array(x, dtype=np.float32)
    ids = list(context[-penalty_last_n:]) if penalty_last_n > 0 else list(context)
    breakers = set(breakers)
    if not ids or ids[-1] in breakers:
        return x, {}
    last = ids[-1]
    lengths = {}
    for i in (i for i, t in enumerate(ids[:-1]) if t == last):
        follower = ids[i + 1]
        if follower in breakers:
            continue
        length = 1
        while length < 50:
            j = i - length
            if j < 0:
                break
            previous = ids[-(length + 1)]
            if ids[j] != previous or previous in breakers:
                break
            length += 1
        lengths[follower] = max(length, lengths.get(follower, 0))
    penalties = {}
    for token, length in lengths.items():
        if length >= allowed_length:
            penalty = np.float32(multiplier * base ** (length - allowed_length))
            penalties[token] = float(penalty)
            x[token] = np.float32(x[token] - penalty)
    return x, penalties


def presence_frequency(x, generated, presence, frequency):
    """Presence and frequency penalties (OpenAI's definition, API reference
    "Parameter details": `mu[j] -> mu[j] - c[j] * alpha_frequency -
    float(c[j] > 0) * alpha_presence`, `c[j]` how often token j was sampled
    before the current position; llama.cpp's `llama_sampler_penalties_apply`
    subtracts the same float32 sum). `generated` is the tokens sampled so far,
    not the prompt. A -inf logit stays -inf."""
    x = np.array(x, dtype=np.float32)
    counts = {}
    for t in generated:
        counts[t] = counts.get(t, 0) + 1
    for t, c in counts.items():
        x[t] = np.float32(x[t] - (np.float32(c) * np.float32(frequency) + np.float32(presence)))
    return x


def mirostat_truncate(x, mu):
    """Mirostat v2's truncation (Basu et al. 2020, "Mirostat: A Neural Text
    Decoding Algorithm that Directly Controls Perplexity", arXiv:2007.14966,
    Algorithm 2 as llama.cpp's `llama_sampler_mirostat_v2_apply` and
    text-generation-webui's `MirostatLogitsWarper` run it): over the live tokens
    sorted most likely first, keep the prefix whose surprise `−log2 p` is at most
    μ (p the softmax of the current logits), at least the most likely token.

    Returns (logits, margin): margin is the distance of the closest surprise to μ."""
    x = np.array(x, dtype=np.float32)
    p = softmax(x)
    order = [i for i in ranked(x) if p[i] > 0]
    surprise = [-math.log2(float(p[i])) for i in order]
    margin = min(abs(s - mu) for s in surprise)
    keep = next((k for k, s in enumerate(surprise) if s > mu), len(order))
    x[order[max(keep, 1):]] = NEG_INF
    x[[i for i in range(len(x)) if p[i] == 0]] = NEG_INF
    return x, margin


def mirostat_update(mu, tau, eta, p_chosen):
    """Mirostat v2's feedback (Basu et al. 2020, Algorithm 2; llama.cpp's
    `llama_sampler_mirostat_v2_apply`): the observed surprise `−log2 p` of the
    chosen token under the truncated, renormalised distribution moves μ by
    `−η · (surprise − τ)`. μ starts at 2τ."""
    return mu - eta * (-math.log2(p_chosen) - tau)
