"""Attention in CPU training: torch's fused kernel against the explicit product.

    python benchmarks/attention_speed.py [--threads 1] [--repeats 5]
    python benchmarks/attention_speed.py --recipe recipes/nlpcli-2.toml --data ../shared/data --trunk trunk/nlpcli-2

Training on a CPU under bfloat16 autocast (`train.cpu_bf16`), MultiHeadAttention
spells attention out (scores, mask, softmax, weighted sum) instead of calling
``scaled_dot_product_attention``, whose CPU kernel is slower there
(``MultiHeadAttention.explicit_in_cpu_bf16_training``). This prints the median
seconds of forward + backward with the fused kernel and with the explicit product:

* without --recipe, for the shapes a 4,096-token batch takes (128 sentences of
  32 pieces, 32 of 128, 10 answer windows of 384): the attention alone (4 heads
  of 64, padding mask) and whole steps of release 2's shape (6+2 layers,
  d_model 256, 16,000 pieces; random weights and tokens), encoder + decoder
  like a translation step and encoder only like the encoder tasks';
* with --recipe and --trunk, the real thing: each task's training step on the
  recipe's own batches from the trunk's weights, and their mean weighted by the
  recipe's task shares (loading the data takes a minute or two).
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nlpcli.attention import MultiHeadAttention, explicit_attention
from nlpcli.model import ModelConfig, Seq2SeqTransformer

SHAPES = [(128, 32), (32, 128), (10, 384)]  # (batch, length): 4,096 tokens each
HEADS, HEAD_DIM = 4, 64
PATHS = {"fused": False, "explicit": True}  # -> MultiHeadAttention.explicit_in_cpu_bf16_training


def median_seconds(step, repeats: int) -> float:
    step()  # warm-up: allocations, one-off kernel choices
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def attention_alone(batch: int, length: int):
    q, k, v = (torch.randn(batch, HEADS, length, HEAD_DIM, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[1::2, ..., length - length // 4:] = False  # every other row padded by a quarter

    def step(explicit: bool):
        if explicit:
            context, _ = explicit_attention(q, k, v, mask)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        context.float().sum().backward()
    return step


def model_step(model, batch: int, length: int, with_decoder: bool):
    src = torch.randint(4, model.config.vocab_size, (batch, length))
    src[1::2, length - length // 4:] = model.config.pad_id

    def step(explicit: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            if with_decoder:
                logits = model(src, src[:, :-1])
                loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), src[:, 1:].reshape(-1),
                                       ignore_index=model.config.pad_id)
            else:
                states, _, _ = model.encoder(src)
                loss = states.float().pow(2).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)
    return step


def timed(step, repeats: int) -> dict[str, float]:
    seconds = {}
    for label, explicit in PATHS.items():
        MultiHeadAttention.explicit_in_cpu_bf16_training = explicit
        seconds[label] = median_seconds(lambda: step(explicit), repeats)
    MultiHeadAttention.explicit_in_cpu_bf16_training = True
    return seconds


def synthetic_rows(repeats: int) -> list[tuple[str, str, dict]]:
    torch.manual_seed(0)
    model = Seq2SeqTransformer(ModelConfig(vocab_size=16000, d_model=256, n_heads=HEADS, ffn_dim=1024,
                                           encoder_layers=6, decoder_layers=2)).train()
    rows = []
    for batch, length in SHAPES:
        shape = f"{batch} x {length}"
        rows.append((shape, "attention alone", timed(attention_alone(batch, length), repeats)))
        rows.append((shape, "step, encoder only", timed(model_step(model, batch, length, False), repeats)))
        if length <= 128:
            rows.append((shape, "step, encoder + decoder", timed(model_step(model, batch, length, True), repeats)))
    return rows


def recipe_rows(args) -> list[tuple[str, str, dict]]:
    from nlpcli.training.objectives import collate
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as scratch:
        trunk = Path(scratch) / "trunk"
        shutil.copytree(args.trunk, trunk)  # the trainer is only built here, never run, but keep the trunk untouched
        trainer = Trainer(load_recipe(args.recipe), Path(args.data), Path(scratch) / "run", trunk=trunk, add_steps=1)
        trainer.model.train()
        rows, mean = [], {label: 0.0 for label in PATHS}
        for task in trainer.pools:
            # warm-up + repeats: each path runs over the same batches, once each
            batches = itertools.cycle([collate(trainer.pools[task], trainer.next_batch(task), trainer.tokenizer.pad_id, task)
                                       for _ in range(args.repeats + 1)])

            def step(explicit: bool, task=task, batches=batches):
                src, tgt = next(batches)
                with trainer.autocast():
                    loss = trainer.trainable(task, src, tgt)
                loss.backward()
                trainer.optimizer.zero_grad(set_to_none=True)

            seconds = timed(step, args.repeats)
            rows.append(("recipe batches", f"step, {task}", seconds))
            for label in PATHS:
                mean[label] += trainer.shares[task] * seconds[label]
        rows.append(("recipe batches", "step, mean over the task shares", mean))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--recipe", help="time the recipe's own training batches (with --data and --trunk)")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--trunk", help="the trunk whose weights the recipe's steps start from")
    args = parser.parse_args()
    if args.recipe and not args.trunk:
        parser.error("--recipe needs --trunk")
    torch.set_num_threads(args.threads)
    rows = recipe_rows(args) if args.recipe else synthetic_rows(args.repeats)
    print(f"torch {torch.__version__}, {args.threads} thread(s), bfloat16 autocast, "
          f"forward + backward, median of {args.repeats}")
    print(f"{'batch x length':<15} {'what':<34} {'fused s':>9} {'explicit s':>11} {'speed-up':>9}")
    for shape, name, seconds in rows:
        print(f"{shape:<15} {name:<34} {seconds['fused']:>9.3f} {seconds['explicit']:>11.3f} "
              f"{seconds['fused'] / seconds['explicit']:>8.2f}x")


if __name__ == "__main__":
    main()
