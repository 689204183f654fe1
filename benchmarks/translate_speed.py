"""Translation speed of a checkpoint, measured the way CTranslate2's published
benchmark does: model loading and tokenization excluded, fixed thread count.

    python benchmarks/translate_speed.py --data ../shared/data [--checkpoint checkpoints/nlpcli-base] [--json]

For each setting (greedy and beam 4, batch 32) it translates Multi30k val en->de
in a fresh process and prints target tokens/s, sentences/s, peak RSS and BLEU.
It then compares training throughput (forward + backward, target tokens/s) of
our core with torch.nn.Transformer of the same dimensions on the same batch.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def translate_once(checkpoint: str, sources: list[str], references: list[str], beam: int, batch_size: int,
                   threads: int, repeats: int, int8: bool = False) -> dict:
    import torch

    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.metrics import bleu
    from nlpcli.tasks import language_token
    from nlpcli.decoding import GenerationSettings
    from nlpcli.translate import Translator

    torch.set_num_threads(threads)
    loaded = load_checkpoint(checkpoint)
    if int8:
        from nlpcli.runtime import quantize_int8

        loaded.model = quantize_int8(loaded.model, "cpu")
    tokenizer = loaded.tokenizer
    translator = Translator(loaded.model, tokenizer)
    settings = GenerationSettings(beam=beam, batch_size=batch_size)
    encoded = [tokenizer.encode_task_input(language_token("de"), s, translator.max_positions)[0] for s in sources]
    timings = []
    for _ in range(repeats):  # tokenization above and detokenization below stay outside the timed part
        started = time.perf_counter()
        outputs = [nbest[0].tokens for nbest in translator.translate_ids(encoded, settings)]
        timings.append(time.perf_counter() - started)
    target_tokens = sum(len(tokens) for tokens in outputs)
    seconds = sorted(timings)[len(timings) // 2]  # median
    hypotheses = [tokenizer.decode(tokens) for tokens in outputs]
    return {
        "beam": beam, "int8": int8, "batch_size": batch_size, "threads": threads, "sentences": len(sources),
        "target_tokens_per_s": round(target_tokens / seconds, 1), "sentences_per_s": round(len(sources) / seconds, 2),
        "seconds_median": round(seconds, 2), "repeats": repeats,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bleu": round(bleu(hypotheses, references), 2),
    }


def training_throughput(config_dict: dict, threads: int, steps: int = 5, batch: int = 64, length: int = 24) -> dict:
    """Forward + backward target tokens/s: our core vs torch.nn.Transformer (same sizes, same batch)."""
    import torch
    import torch.nn.functional as F

    from nlpcli.model import ModelConfig, Seq2SeqTransformer

    torch.set_num_threads(threads)
    config = ModelConfig(**config_dict)
    torch.manual_seed(0)
    src = torch.randint(4, config.vocab_size, (batch, length))
    tgt = torch.randint(4, config.vocab_size, (batch, length + 1))

    ours = Seq2SeqTransformer(config)

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(config.vocab_size, config.d_model)
            self.core = torch.nn.Transformer(config.d_model, config.n_heads, config.encoder_layers, config.decoder_layers,
                                             config.ffn_dim, config.dropout, batch_first=True, norm_first=True)

        def forward(self, s, t):
            mask = torch.nn.Transformer.generate_square_subsequent_mask(t.size(1))
            out = self.core(self.embed(s), self.embed(t), tgt_mask=mask, tgt_is_causal=True)
            return out @ self.embed.weight.T

    results = {}
    for name, model in (("nlpcli", ours), ("torch.nn.Transformer", Reference())):
        model.train()
        timings = []
        for step in range(steps + 1):
            started = time.perf_counter()
            logits = model(src, tgt[:, :-1])
            F.cross_entropy(logits.reshape(-1, config.vocab_size), tgt[:, 1:].reshape(-1)).backward()
            model.zero_grad()
            if step:  # the first step warms up
                timings.append(time.perf_counter() - started)
        seconds = sorted(timings)[len(timings) // 2]
        results[name] = round(batch * length / seconds, 1)
    return {"train_target_tokens_per_s": results, "batch": batch, "length": length, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--checkpoint", default=str(Path(__file__).resolve().parent.parent / "checkpoints" / "nlpcli-base"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one setting in this process
    parser.add_argument("--int8", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    folder = Path(args.data) / "translate" / "multi30k"
    sources = (folder / "val.en").read_text(encoding="utf-8").splitlines()
    references = (folder / "val.de").read_text(encoding="utf-8").splitlines()
    if args.limit:
        sources, references = sources[: args.limit], references[: args.limit]
    if args.one:
        print(json.dumps(translate_once(args.checkpoint, sources, references, int(args.one), args.batch_size,
                                        args.threads, args.repeats, args.int8)))
        return

    rows = []
    for beam, int8 in ((1, False), (4, False), (1, True), (4, True)):  # a fresh process per setting: its own peak RSS
        command = [sys.executable, __file__, "--one", str(beam)] + (["--int8"] if int8 else []) + [
            a for pair in (("--data", args.data), ("--checkpoint", args.checkpoint), ("--threads", str(args.threads)),
                           ("--batch-size", str(args.batch_size)), ("--repeats", str(args.repeats)),
                           ("--limit", str(args.limit))) for a in pair]
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    config = json.loads((Path(args.checkpoint) / "config.json").read_text())["model"]
    training = training_throughput(config, args.threads)
    if args.json:
        print(json.dumps({"translate": rows, "training": training}, indent=2))
        return
    print(f"Multi30k val en->de, {rows[0]['sentences']} sentences, batch {args.batch_size}, {args.threads} threads, "
          f"median of {args.repeats} (model load and tokenization excluded)")
    print(f"{'weights':<9}{'search':<8}{'tgt tok/s':>12}{'sent/s':>10}{'peak RSS MiB':>15}{'BLEU':>8}")
    for row in rows:
        name = "greedy" if row["beam"] == 1 else f"beam {row['beam']}"
        print(f"{'int8' if row['int8'] else 'fp32':<9}{name:<8}{row['target_tokens_per_s']:>12}{row['sentences_per_s']:>10}"
              f"{row['peak_rss_mib']:>15}{row['bleu']:>8}")
    print(f"training, forward+backward, batch {training['batch']}x{training['length']}, {training['threads']} threads:")
    for name, speed in training["train_target_tokens_per_s"].items():
        print(f"  {name:<22}{speed:>10} target tok/s")


if __name__ == "__main__":
    main()
