"""Attention on a CPU: torch's fused kernel against the explicit product, in training and decoding.

    python benchmarks/attention_speed.py [--threads 1] [--repeats 5] [--dtype bfloat16|float32]
    python benchmarks/attention_speed.py --recipe recipes/nlpcli-2.toml --data ../shared/data --trunk trunk/nlpcli-2
    python benchmarks/attention_speed.py --decoding [--dtype bfloat16|float32]

Training on a CPU under bfloat16 autocast (`train.cpu_bf16`), MultiHeadAttention
spells attention out (scores, mask, softmax, weighted sum) instead of calling
``scaled_dot_product_attention``, whose CPU kernel is slower there
(``MultiHeadAttention.explicit_on_cpu``, the dtypes that do so). This
prints the median seconds of forward + backward with the fused kernel and with
the explicit product, in the dtype the trainer would use on this CPU (bfloat16
autocast where it has bfloat16 instructions, float32 elsewhere; ``--dtype`` sets it):

* without --recipe, for the shapes a 4,096-token batch takes (128 sentences of
  32 pieces, 32 of 128, 10 answer windows of 384): the attention alone (4 heads
  of 64, padding mask) and whole steps of release 2's shape (6+2 layers,
  d_model 256, 16,000 pieces; random weights and tokens), encoder + decoder
  like a translation step and encoder only like the encoder tasks';
* with --recipe and --trunk, the real thing: each task's training step on the
  recipe's own batches from the trunk's weights, and their mean weighted by the
  recipe's task shares (loading the data takes a minute or two);
* with --decoding, one decoding step's attention (no gradients): one query for each of
  128 rows (a batch of 32 at beam 4) over 8 to 64 keys (cached target positions or the
  source), where bfloat16 also takes the explicit product (``explicit_on_cpu``), in float32.
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
from nlpcli.runtime import cpu_has_bf16

SHAPES = [(128, 32), (32, 128), (10, 384)]  # (batch, length): 4,096 tokens each
DECODING_ROWS, DECODING_KEYS = 128, (8, 20, 40, 64)  # batch 32 x beam 4; Multi30k sources are ~20 pieces
HEADS, HEAD_DIM = 4, 64
PATHS = {"fused": False, "explicit": True}
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def median_seconds(step, repeats: int) -> float:
    step()  # warm-up: allocations, one-off kernel choices
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def attention_alone(batch: int, length: int, dtype: torch.dtype):
    q, k, v = (torch.randn(batch, HEADS, length, HEAD_DIM, dtype=dtype, requires_grad=True) for _ in range(3))
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[1::2, ..., length - length // 4:] = False  # every other row padded by a quarter

    def step(explicit: bool):
        if explicit:
            context, _ = explicit_attention(q, k, v, mask)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        context.float().sum().backward()
    return step


def model_step(model, batch: int, length: int, with_decoder: bool, dtype: torch.dtype):
    src = torch.randint(4, model.config.vocab_size, (batch, length))
    src[1::2, length - length // 4:] = model.config.pad_id

    def step(explicit: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
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


def timed(step, repeats: int, dtype: torch.dtype) -> dict[str, float]:
    seconds, shipped = {}, MultiHeadAttention.explicit_on_cpu
    for label, explicit in PATHS.items():
        MultiHeadAttention.explicit_on_cpu = frozenset({dtype} if explicit else ())
        seconds[label] = median_seconds(lambda: step(explicit), repeats)
    MultiHeadAttention.explicit_on_cpu = shipped
    return seconds


def synthetic_rows(repeats: int, dtype: torch.dtype) -> list[tuple[str, str, dict]]:
    torch.manual_seed(0)
    model = Seq2SeqTransformer(ModelConfig(vocab_size=16000, d_model=256, n_heads=HEADS, ffn_dim=1024,
                                           encoder_layers=6, decoder_layers=2)).train()
    rows = []
    for batch, length in SHAPES:
        shape = f"{batch} x {length}"
        rows.append((shape, "attention alone", timed(attention_alone(batch, length, dtype), repeats, dtype)))
        rows.append((shape, "step, encoder only", timed(model_step(model, batch, length, False, dtype), repeats, dtype)))
        if length <= 128:
            rows.append((shape, "step, encoder + decoder",
                         timed(model_step(model, batch, length, True, dtype), repeats, dtype)))
    return rows


def decoding_rows(repeats: int, dtype: torch.dtype) -> list[tuple[str, str, dict]]:
    rows = []
    for keys in DECODING_KEYS:
        q = torch.randn(DECODING_ROWS, HEADS, 1, HEAD_DIM, dtype=dtype)
        k, v = (torch.randn(DECODING_ROWS, HEADS, keys, HEAD_DIM, dtype=dtype) for _ in range(2))
        mask = torch.ones(DECODING_ROWS, 1, 1, keys, dtype=torch.bool)
        mask[1::2, ..., keys - keys // 4:] = False

        @torch.inference_mode()
        def step(explicit: bool, q=q, k=k, v=v, mask=mask, cached=(k.float(), v.float())):
            for _ in range(100):  # a step's attention is too short to time alone
                if explicit:  # as MultiHeadAttention decodes: in float32, from a float32 cache
                    explicit_attention(q.float(), *cached, mask)[0].to(dtype)
                else:
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        rows.append((f"{DECODING_ROWS} x 1 x {keys}", "100 decoding steps' attention", timed(step, repeats, dtype)))
    return rows


def recipe_rows(args, dtype: torch.dtype) -> list[tuple[str, str, dict]]:
    from nlpcli.training.objectives import collate
    from nlpcli.training.recipe import load_recipe
    from nlpcli.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as scratch:
        trunk = Path(scratch) / "trunk"
        shutil.copytree(args.trunk, trunk)  # the trainer is only built here, never run, but keep the trunk untouched
        trainer = Trainer(load_recipe(args.recipe), Path(args.data), Path(scratch) / "run", trunk=trunk, add_steps=1)
        trainer.model.train()
        trainer.cpu_bf16 = dtype == torch.bfloat16  # the dtype asked for, whatever this CPU would train in
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

            seconds = timed(step, args.repeats, dtype)
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
    parser.add_argument("--decoding", action="store_true", help="time one query a step without gradients instead")
    parser.add_argument("--dtype", choices=DTYPES,
                        help="bfloat16 (autocast) or float32; default: what the trainer uses on this CPU")
    args = parser.parse_args()
    if args.recipe and not args.trunk:
        parser.error("--recipe needs --trunk")
    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype or ("bfloat16" if cpu_has_bf16() else "float32")]
    if args.decoding:
        rows = decoding_rows(args.repeats, dtype)
    else:
        rows = recipe_rows(args, dtype) if args.recipe else synthetic_rows(args.repeats, dtype)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {args.threads} thread(s), "
          f"{dtype}, {'forward only' if args.decoding else 'forward + backward'}, median of {args.repeats}")
    print(f"{'batch x length':<15} {'what':<34} {'fused s':>9} {'explicit s':>11} {'speed-up':>9}")
    for shape, name, seconds in rows:
        print(f"{shape:<15} {name:<34} {seconds['fused']:>9.3f} {seconds['explicit']:>11.3f} "
              f"{seconds['fused'] / seconds['explicit']:>8.2f}x")


if __name__ == "__main__":
    main()
