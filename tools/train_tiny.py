#!/usr/bin/env python3
"""Trains the bundled pair: a small GPT-2 target and a smaller draft, on the
King James Bible, with GPT-2's own tokenizer and architecture.

The corpus is the text of Debian's `bible-kjv-text` package (version 4.38;
the text of the King James Version is in the public domain, its copyright
having expired; the package's decoder `bible-kjv` is GPL-2+ and is only run,
not shipped). Both .deb files are fetched from deb.debian.org and checked
against pinned SHA-256 sums, unpacked in Python, and the decoder prints the
31,102 verses. Every 20th chapter (59 of 1,189, about 5% of the text) is held
out: `models/heldout.txt` holds it, for the tests.

The target (4 layers, 160 wide) is trained on the verses; the draft (2
layers, 64 wide) is distilled from it (KL divergence to the target's
next-token distribution). Both are saved by transformers' `save_pretrained`
in f16 beside GPT-2's `tokenizer.json` and a model card with the figures of
the run (`models/bundled`, `models/bundled-draft`).

Reproduce (PyTorch on the CPU, two threads, seeded; about 45 minutes on two
cores of a 2024 Xeon):

    python3 -m venv ../venv && ../venv/bin/pip install 'torch==2.15.*' 'transformers==5.23.*'
    ../venv/bin/python tools/train_tiny.py

With the same versions on the same CPU the weights come out byte for byte the
same (deterministic algorithms, fixed thread count); another CPU may pick
other vector kernels, and so round differently in the last bits.
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "engine" / "assets" / "tokenizer.json"
EOS = 50256
VOCAB = 50257

DEBIAN = "https://deb.debian.org/debian/pool/main/b/bible-kjv"
PACKAGES = {
    "bible-kjv-text_4.38_all.deb": None,
    "bible-kjv_4.38_amd64.deb": None,
}
SUMS = ROOT / "tools" / "kjv.sha256"

# The two shapes: at f16 with GPT-2's vocabulary, 18.6 MB and 6.7 MB.
TARGET = dict(n_layer=4, n_embd=160, n_head=5)
DRAFT = dict(n_layer=2, n_embd=64, n_head=2)
POSITIONS = 256
HELD_OUT_EVERY = 20


def log(*args):
    print(*args, flush=True)


# --- the corpus -----------------------------------------------------------


def ar_members(data):
    """The members of a Debian package (an `ar` archive): name -> bytes."""
    assert data[:8] == b"!<arch>\n", "not an ar archive"
    pos, out = 8, {}
    while pos < len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        out[name] = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)
    return out


def fetch_verses(work):
    """The 31,102 verses as (reference, text), in order."""
    sums = dict(line.split()[::-1] for line in SUMS.read_text().splitlines() if line.strip())
    for name in PACKAGES:
        path = work / name
        if not path.exists():
            log(f"fetching {DEBIAN}/{name}")
            with urllib.request.urlopen(f"{DEBIAN}/{name}", timeout=60) as r:
                path.write_bytes(r.read())
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sums[name]:
            sys.exit(f"{name}: sha256 {digest}, expected {sums[name]}")
        for member, body in ar_members(path.read_bytes()).items():
            if member.startswith("data.tar"):
                with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                    tar.extractall(work / "root", filter="data")
    root = work / "root"
    decoder = root / "usr" / "bin" / "bible"
    out = subprocess.run(
        [str(decoder), "-f", "-p", str(root / "usr" / "lib"), "gen1:1-rev22:21"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    verses = []
    for line in out.splitlines():
        m = re.match(r"^(\S+?)(\d+):(\d+) (.*)$", line)
        if m:
            verses.append(((m.group(1), int(m.group(2))), m.group(4).strip()))
    if len(verses) != 31102:
        sys.exit(f"the decoder printed {len(verses)} verses, expected 31102")
    return verses


def chapters(verses):
    """The chapters in order, each a list of verses."""
    out, last = [], None
    for chapter, text in verses:
        if chapter != last:
            out.append([])
            last = chapter
        out[-1].append(text)
    return out


def chapter_text(verses):
    return "\n".join(verses) + "\n"


# --- training -------------------------------------------------------------


def encode(tokenizer, texts):
    ids = []
    for text in texts:
        ids.extend(tokenizer.encode(text).ids)
        ids.append(EOS)
    return torch.tensor(ids, dtype=torch.long)


def batches(stream, batch, length, generator):
    """Random windows of length + 1 tokens, forever."""
    top = len(stream) - length - 1
    while True:
        starts = torch.randint(0, top, (batch,), generator=generator)
        yield torch.stack([stream[s : s + length + 1] for s in starts.tolist()])


class Vocabulary:
    """The tokens the training text uses, and one shared row for the rest.

    Of GPT-2's 50,257 tokens the training chapters use under 10,000. The
    others never appear as an input or a target, so they are given one
    embedding row between them (`unknown`, trained like any row): with tied
    embeddings their logits are then all the same, and the softmax over the
    whole vocabulary is exactly a softmax over the used tokens plus one
    bucket whose logit is raised by log(count). That makes the output layer
    five times cheaper to train and changes nothing in the model saved: its
    unused rows are all written as `unknown`."""

    def __init__(self, ids):
        self.used = torch.unique(ids)
        self.unused = VOCAB - len(self.used)
        self.bucket = len(self.used)
        self.index = torch.full((VOCAB,), self.bucket, dtype=torch.long)
        self.index[self.used] = torch.arange(len(self.used))
        self.log_unused = math.log(self.unused)

    def log_probs(self, model, unknown, hidden):
        """Log-probabilities of the used tokens and of the bucket (all unused
        tokens together), from the final hidden states."""
        rows = torch.cat([model.transformer.wte.weight[self.used], unknown[None]])
        logits = hidden @ rows.T
        offset = torch.zeros(len(self.used) + 1)
        offset[-1] = self.log_unused
        return F.log_softmax(logits + offset, dim=-1)

    def token_log_probs(self, log_probs, targets):
        """log p of each target token (an unused one gets its share of the bucket)."""
        index = self.index[targets]
        picked = log_probs.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        return picked - (index == self.bucket).float() * self.log_unused

    def fold(self, model, unknown):
        """Writes `unknown` into every unused row: the model as saved."""
        with torch.no_grad():
            mask = torch.ones(VOCAB, dtype=torch.bool)
            mask[self.used] = False
            model.transformer.wte.weight[mask] = unknown


def hidden(model, inputs):
    return model.transformer(inputs).last_hidden_state


@torch.no_grad()
def held_out_loss(model, stream, length, vocab=None, unknown=None):
    """Mean next-token cross-entropy over the held-out stream, in windows:
    through the compact head while training, else the model's own logits."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(stream) - 1, length):
        window = stream[start : start + length + 1]
        if len(window) < 2:
            break
        inputs, targets = window[None, :-1], window[None, 1:]
        if vocab is None:
            logits = model(inputs).logits
            total += F.cross_entropy(logits[0], targets[0], reduction="sum").item()
        else:
            log_probs = vocab.log_probs(model, unknown, hidden(model, inputs))
            total -= vocab.token_log_probs(log_probs, targets).sum().item()
        count += targets.numel()
    model.train()
    return total / count


def schedule(step, steps, warmup, lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def new_model(shape, seed):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=POSITIONS,
        bos_token_id=EOS,
        eos_token_id=EOS,
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
        **shape,
    )
    model = GPT2LMHeadModel(config)
    unknown = torch.nn.Parameter(torch.randn(config.n_embd) * config.initializer_range)
    return model, unknown


def train(name, model, unknown, vocab, train_ids, held_ids, args, teacher=None):
    """Trains `model`: next-token cross-entropy, or with a `teacher` (model,
    unknown) the KL divergence to its distribution. Returns the curve
    (step, train loss, held-out cross-entropy) and the seconds taken."""
    generator = torch.Generator().manual_seed(args.seed + (1 if teacher else 0))
    steps = args.draft_steps if teacher else args.target_steps
    lr = args.draft_lr if teacher else args.target_lr
    decay, no_decay = [unknown], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
    )
    curve, running, start = [], None, time.time()
    model.train()
    for step, batch in zip(range(steps), batches(train_ids, args.batch, POSITIONS, generator)):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step, steps, args.warmup, lr)
        inputs, labels = batch[:, :-1], batch[:, 1:]
        log_probs = vocab.log_probs(model, unknown, hidden(model, inputs))
        if teacher is None:
            loss = -vocab.token_log_probs(log_probs, labels).mean()
        else:
            with torch.no_grad():
                target = vocab.log_probs(teacher[0], teacher[1], hidden(teacher[0], inputs))
            loss = F.kl_div(
                log_probs.reshape(-1, log_probs.size(-1)),
                target.reshape(-1, target.size(-1)),
                log_target=True,
                reduction="batchmean",
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + [unknown], 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        last = step + 1 == steps
        if (step + 1) % args.eval_every == 0 or last:
            held = held_out_loss(model, held_ids, POSITIONS, vocab, unknown)
            curve.append((step + 1, running, held))
            rate = (step + 1) * args.batch * POSITIONS / (time.time() - start)
            log(
                f"{name} step {step + 1}/{steps}: train {running:.3f}, held-out CE {held:.3f} "
                f"(perplexity {math.exp(held):.1f}), {rate:,.0f} tokens/s"
            )
    return curve, time.time() - start


# --- saving ---------------------------------------------------------------


CARD = """---
license: mit
language: en
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, kjv, bundled]
---

# {name}: {what}

GPT-2's architecture and tokenizer, {layers} layers, {width} wide ({heads}
heads), {positions} positions, {params:,} parameters, stored in f16
({size:.1f} MB). Bundled with the GPT-2 decoding playground so that the page
and the command line (`--model {name}`) work at once, offline.

## Data

The King James Version of the Bible (public domain), as Debian's
`bible-kjv-text` 4.38 package ships it: 31,102 verses, one per line, each
chapter a document ended by `<|endoftext|>`. Every {every}th chapter is held out
({held_chapters} of {chapters} chapters, {held_tokens:,} tokens, in
`models/heldout.txt`); the model was trained on the other {train_tokens:,} tokens.

## Training

The {used:,} tokens the training text uses have rows of their own in the
embedding; the other tokens of GPT-2's vocabulary never occur in it and share
one row, trained through the softmax's normaliser (so a prompt may still hold
them; the model gives them little probability).

{how}, {steps:,} steps of {batch} windows of {positions} tokens (AdamW, peak
learning rate {lr}, cosine to a tenth, weight decay 0.1, dropout 0.1, seed
{seed}), PyTorch {torch} and transformers {transformers} on the CPU, two
threads: {seconds:.0f} s.

| step | training loss | held-out cross-entropy | held-out perplexity |
|---:|---:|---:|---:|
{curve}

Held-out cross-entropy of the saved f16 weights: {final:.3f} nats per token
(perplexity {final_ppl:.1f}).

## Reproduce

```sh
python3 -m venv ../venv && ../venv/bin/pip install 'torch==2.15.*' 'transformers==5.23.*'
../venv/bin/python tools/train_tiny.py
```

The script fetches the two Debian packages (checked against
`tools/kjv.sha256`), trains the target and then distils the draft, and writes
both folders and `models/heldout.txt`. With the same versions on the same CPU
the weights are the same byte for byte; another CPU may round differently in
the last bits.

## Limits

A toy: it writes fluent-looking scripture-flavoured English and knows nothing
else. It is for seeing how decoding strategies behave, not for use.
"""


def save(model, unknown, vocab, out, name, what, how, curve, seconds, args, stats, steps, lr):
    """Saves `model` in f16 with its unused rows folded, its card beside it;
    returns the held-out cross-entropy of the saved weights, by the model's
    own full-vocabulary logits. The model is left holding the saved values."""
    out.mkdir(parents=True, exist_ok=True)
    vocab.fold(model, unknown)
    half = model.to(torch.float16)
    half.save_pretrained(out, safe_serialization=True)
    shutil.copyfile(TOKENIZER, out / "tokenizer.json")
    # Whatever else save_pretrained wrote (generation_config.json) stays out.
    for extra in out.iterdir():
        if extra.name not in {"config.json", "model.safetensors", "tokenizer.json", "README.md"}:
            extra.unlink()
    final = held_out_loss(half.float(), stats["held_ids"], POSITIONS)
    c = model.config
    rows = "\n".join(
        f"| {s} | {t:.3f} | {h:.3f} | {math.exp(h):.1f} |" for s, t, h in curve
    )
    (out / "README.md").write_text(
        CARD.format(
            name=name,
            what=what,
            layers=c.n_layer,
            width=c.n_embd,
            heads=c.n_head,
            positions=c.n_positions,
            params=sum(p.numel() for p in model.parameters()),
            size=(out / "model.safetensors").stat().st_size / 1e6,
            every=HELD_OUT_EVERY,
            held_chapters=stats["held_chapters"],
            chapters=stats["chapters"],
            held_tokens=len(stats["held_ids"]),
            train_tokens=stats["train_tokens"],
            how=how,
            steps=steps,
            batch=args.batch,
            lr=lr,
            seed=args.seed,
            torch=torch.__version__,
            transformers=transformers.__version__,
            seconds=seconds,
            curve=rows,
            final=final,
            final_ppl=math.exp(final),
            used=len(vocab.used),
        )
    )
    log(f"{out}: held-out CE of the f16 weights {final:.3f} (perplexity {math.exp(final):.1f})")
    return final


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--work", type=Path, help="where the .deb files go (default: a temporary folder)")
    parser.add_argument("--target-steps", type=int, default=1400)
    parser.add_argument("--draft-steps", type=int, default=700)
    parser.add_argument("--target-lr", type=float, default=3e-3)
    parser.add_argument("--draft-lr", type=float, default=5e-3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1611)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        verses = fetch_verses(work)
    all_chapters = chapters(verses)
    held = [c for i, c in enumerate(all_chapters) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    kept = [c for i, c in enumerate(all_chapters) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heldout.txt").write_text("\n".join(chapter_text(c) for c in held))

    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    train_ids = encode(tokenizer, [chapter_text(c) for c in kept])
    held_ids = encode(tokenizer, [chapter_text(c) for c in held])
    log(
        f"{len(all_chapters)} chapters: {len(kept)} for training ({len(train_ids):,} tokens), "
        f"{len(held)} held out ({len(held_ids):,} tokens)"
    )
    stats = dict(
        held_ids=held_ids,
        held_chapters=len(held),
        chapters=len(all_chapters),
        train_tokens=len(train_ids),
    )

    vocab = Vocabulary(train_ids)
    target, unknown = new_model(TARGET, args.seed)
    curve, seconds = train("target", target, unknown, vocab, train_ids, held_ids, args)
    target_ce = save(
        target, unknown, vocab, args.out / "bundled", "bundled", "the target",
        "Trained on next-token cross-entropy", curve, seconds, args, stats,
        args.target_steps, args.target_lr,
    )
    # The draft learns from the target as saved (its f16 values).
    teacher = target.float().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher_unknown = teacher.transformer.wte.weight[vocab.index == vocab.bucket][0]
    draft, draft_unknown = new_model(DRAFT, args.seed + 1)
    curve, draft_seconds = train(
        "draft", draft, draft_unknown, vocab, train_ids, held_ids, args,
        teacher=(teacher, teacher_unknown),
    )
    draft_ce = save(
        draft, draft_unknown, vocab, args.out / "bundled-draft", "bundled-draft", "the draft",
        "Distilled from `bundled` (KL divergence to its next-token distribution)",
        curve, draft_seconds, args, stats, args.draft_steps, args.draft_lr,
    )
    summary = dict(
        target_held_out_ce=round(target_ce, 4),
        draft_held_out_ce=round(draft_ce, 4),
        target_seconds=round(seconds),
        draft_seconds=round(draft_seconds),
    )
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
