"""Translation speed of a checkpoint, measured the way CTranslate2's published
benchmark does: model loading and tokenization excluded, fixed thread count.

    python benchmarks/translate_speed.py --data ../shared/data [--checkpoint checkpoints/nlpcli-base] [--json]

For each engine (nlpcli fp32, nlpcli with int8 linear layers, and Hugging Face
transformers' generate on the same weights, exported with `nlpcli convert --to
hf`) and search (greedy and beam 4, batch 32) it translates Multi30k val en->de
in a fresh process and prints target tokens/s, sentences/s, peak RSS, BLEU and
the speed ratio to transformers.
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
                   threads: int, repeats: int, engine: str = "nlpcli") -> dict:
    """Translate with one engine: "nlpcli" (fp32), "nlpcli-int8", or "transformers"
    (M2M100ForConditionalGeneration.generate on the same weights, exported with
    nlpcli convert --to hf). Both get the same token ids, the same length-sorted
    batches and the same length limit; only the search is timed."""
    import torch

    from nlpcli.batching import pad
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings, max_new_tokens
    from nlpcli.metrics import bleu
    from nlpcli.tasks import language_token
    from nlpcli.translate import Translator

    torch.set_num_threads(threads)
    loaded = load_checkpoint(checkpoint)
    tokenizer = loaded.tokenizer
    encoded = [tokenizer.encode_task_input(language_token("de"), s, loaded.model.config.max_positions)[0] for s in sources]
    if engine == "transformers":
        import tempfile

        import transformers

        from nlpcli.convert import export_hf

        hf = transformers.M2M100ForConditionalGeneration.from_pretrained(export_hf(checkpoint, Path(tempfile.mkdtemp()) / "hf")).eval()
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)

        def search() -> list[list[int]]:
            outputs = [[] for _ in encoded]
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                src = pad([encoded[i] for i in batch], tokenizer.pad_id)
                with torch.inference_mode():
                    generated = hf.generate(input_ids=src, attention_mask=src.ne(tokenizer.pad_id).long(), num_beams=beam,
                                            do_sample=False, early_stopping=True, length_penalty=1.0,
                                            max_new_tokens=max_new_tokens(loaded.model.config.max_positions, src.size(1), 0))
                for row, index in enumerate(batch):
                    outputs[index] = [t for t in generated[row, 1:].tolist() if t != tokenizer.pad_id]
            return outputs
    else:
        if engine == "nlpcli-int8":
            from nlpcli.runtime import quantize_int8

            loaded.model = quantize_int8(loaded.model, "cpu")
        translator = Translator(loaded.model, tokenizer)
        settings = GenerationSettings(beam=beam, batch_size=batch_size)

        def search() -> list[list[int]]:
            return [nbest[0].tokens for nbest in translator.translate_ids(encoded, settings)]

    timings = []
    for _ in range(repeats):  # tokenization above and detokenization below stay outside the timed part
        started = time.perf_counter()
        outputs = search()
        timings.append(time.perf_counter() - started)
    target_tokens = sum(len(tokens) for tokens in outputs)
    seconds = sorted(timings)[len(timings) // 2]  # median
    hypotheses = [tokenizer.decode(tokens) for tokens in outputs]
    return {
        "engine": engine, "beam": beam, "batch_size": batch_size, "threads": threads, "sentences": len(sources),
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
    parser.add_argument("--engine", default="nlpcli", help=argparse.SUPPRESS)
    parser.add_argument("--engines", default="nlpcli,nlpcli-int8,transformers",
                        help="what to compare: nlpcli, nlpcli-int8, transformers (needs the test extra)")
    args = parser.parse_args()

    folder = Path(args.data) / "translate" / "multi30k"
    sources = (folder / "val.en").read_text(encoding="utf-8").splitlines()
    references = (folder / "val.de").read_text(encoding="utf-8").splitlines()
    if args.limit:
        sources, references = sources[: args.limit], references[: args.limit]
    if args.one:
        print(json.dumps(translate_once(args.checkpoint, sources, references, int(args.one), args.batch_size,
                                        args.threads, args.repeats, args.engine)))
        return

    rows = []
    settings = [(engine, beam) for engine in args.engines.split(",") for beam in (1, 4)]
    for engine, beam in settings:  # a fresh process per setting: its own peak RSS
        command = [sys.executable, __file__, "--one", str(beam), "--engine", engine] + [
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
    baseline = {row["beam"]: row["target_tokens_per_s"] for row in rows if row["engine"] == "transformers"}
    print(f"{'engine':<14}{'search':<8}{'tgt tok/s':>12}{'sent/s':>10}{'peak RSS MiB':>15}{'BLEU':>8}{'x transformers':>16}")
    for row in rows:
        name = "greedy" if row["beam"] == 1 else f"beam {row['beam']}"
        ratio = f"{row['target_tokens_per_s'] / baseline[row['beam']]:.2f}" if row["beam"] in baseline else "-"
        print(f"{row['engine']:<14}{name:<8}{row['target_tokens_per_s']:>12}{row['sentences_per_s']:>10}"
              f"{row['peak_rss_mib']:>15}{row['bleu']:>8}{ratio:>16}")
    print(f"training, forward+backward, batch {training['batch']}x{training['length']}, {training['threads']} threads:")
    for name, speed in training["train_target_tokens_per_s"].items():
        print(f"  {name:<22}{speed:>10} target tok/s")


if __name__ == "__main__":
    main()
