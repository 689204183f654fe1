"""Translation speed of a checkpoint, measured the way CTranslate2's published
benchmark does: model loading and tokenization excluded, fixed thread count.

    python benchmarks/translate_speed.py --data ../shared/data [--checkpoint checkpoints/nlpcli-base] [--json]
    python benchmarks/translate_speed.py --data ../shared/data --sets multi30k --engines nlpcli-default \
        --checkpoint checkpoints/nlpcli-base,checkpoints/nlpcli-2      # two releases as they run, same run

For each checkpoint (comma-separated; the others are compared with the first),
test set (Multi30k val; newstest2013 for long sentences), engine
(nlpcli fp32, nlpcli with int8 linear layers, nlpcli in bfloat16, each also as ENGINE+shortlist
with the checkpoint's vocabulary shortlist; nlpcli-default, as `nlpcli translate` runs each
checkpoint without options: its compute dtype and shortlist, the figure two releases are compared
by; Hugging Face transformers' generate, CTranslate2 fp32 and int8, the last three on the same
weights, exported with `nlpcli convert`) and search (greedy and beam 4, batch 32) it
translates en->de in a fresh process and prints target tokens/s, sentences/s,
peak RSS, BLEU and the speed ratio to transformers. It also times the start-up
of `nlpcli translate` on one line next to `import torch` + checkpoint load.
It then compares training throughput (forward + backward, target tokens/s) of
our core with torch.nn.Transformer of the same dimensions on the same batch.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux
    carries into it the RSS of the parent that forked us, before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def nlpcli_search(checkpoint: str, engine: str, beam: int, batch_size: int):
    from nlpcli.checkpoint import load_checkpoint
    from nlpcli.decoding import GenerationSettings
    from nlpcli.runtime import quantize_int8, runs_in_bf16, to_bfloat16
    from nlpcli.tasks.translate import Translator

    loaded = load_checkpoint(checkpoint)
    # "nlpcli-default": as `nlpcli translate` runs the checkpoint without options: in its
    # compute dtype for translation where this CPU has it, with its shortlist if it has one
    default = engine == "nlpcli-default"
    if engine.startswith("nlpcli-int8"):
        loaded.model = quantize_int8(loaded.model, "cpu")
    if engine.startswith("nlpcli-bf16") or (default and runs_in_bf16(None, loaded.info.compute_dtype("translate"), "cpu")):
        loaded.model = to_bfloat16(loaded.model)
    shortlist = None
    if engine.endswith("+shortlist") or default:
        from nlpcli.shortlist import VocabularyShortlist

        shortlist = VocabularyShortlist.load(checkpoint, loaded.model.config.vocab_size)
        if shortlist is None and not default:
            raise SystemExit(f"{checkpoint} has no vocabulary shortlist (recipes/shortlist.py builds one)")
    translator = Translator(loaded.model, loaded.tokenizer, shortlist=shortlist)
    settings = GenerationSettings(beam=beam, batch_size=batch_size)
    return lambda encoded: [nbest[0].tokens for nbest in translator.translate_ids(encoded, settings)]


def transformers_search(hf_dir: str, tokenizer, max_positions: int, beam: int, batch_size: int):
    import torch
    import transformers

    from nlpcli.batching import length_sorted_batches, pad
    from nlpcli.decoding import max_new_tokens

    hf = transformers.M2M100ForConditionalGeneration.from_pretrained(hf_dir).eval()

    def search(encoded):
        outputs = [[] for _ in encoded]
        for batch in length_sorted_batches(encoded, batch_size):
            src = pad([encoded[i] for i in batch], tokenizer.pad_id)
            with torch.inference_mode():
                generated = hf.generate(input_ids=src, attention_mask=src.ne(tokenizer.pad_id).long(), num_beams=beam,
                                        do_sample=False, early_stopping=True, length_penalty=1.0,
                                        max_new_tokens=max_new_tokens(max_positions, src.size(1), 0))
            for row, index in enumerate(batch):
                outputs[index] = [t for t in generated[row, 1:].tolist() if t != tokenizer.pad_id]
        return outputs
    return search


def ctranslate2_search(ct2_dir: str, tokenizer, max_positions: int, engine: str, beam: int, batch_size: int, threads: int):
    import ctranslate2

    from nlpcli.batching import length_sorted_batches
    from nlpcli.decoding import max_new_tokens

    compute_type = "int8" if engine == "ctranslate2-int8" else "float32"
    translator = ctranslate2.Translator(ct2_dir, device="cpu", compute_type=compute_type, intra_threads=threads,
                                        inter_threads=1)

    def search(encoded):
        outputs = [[] for _ in encoded]
        for batch in length_sorted_batches(encoded, batch_size):
            results = translator.translate_batch(
                [tokenizer.pieces(encoded[i]) for i in batch], beam_size=beam, length_penalty=1.0,
                max_decoding_length=max_new_tokens(max_positions, max(len(encoded[i]) for i in batch), 0))
            for index, result in zip(batch, results):  # CTranslate2 leaves out </s>; the others count it
                outputs[index] = [tokenizer.sp.piece_to_id(p) for p in result.hypotheses[0]] + [tokenizer.eos_id]
        return outputs
    return search


def translate_once(checkpoint: str, sources: list[str], references: list[str], beam: int, batch_size: int,
                   threads: int, repeats: int, engine: str = "nlpcli", exports: dict | None = None) -> dict:
    """Translate with one engine: "nlpcli" (fp32), "nlpcli-int8", "nlpcli-bf16" (each of them
    with "+shortlist": the checkpoint's vocabulary shortlist), "nlpcli-default", "transformers"
    (M2M100ForConditionalGeneration.generate), "ctranslate2" or "ctranslate2-int8",
    the last three on the same weights exported by nlpcli convert (``exports``: the
    folders, made beforehand so that no engine's peak RSS includes another model).
    All get the same token ids, the same length-sorted batches of ``batch_size`` and
    the same length limit; only the search is timed."""
    import torch

    from nlpcli.checkpoint import CONFIG_FILE, TOKENIZER_FILE
    from nlpcli.metrics import bleu
    from nlpcli.tasks import TASKS, language_token
    from nlpcli.tokenizer import Tokenizer

    torch.set_num_threads(threads)
    tokenizer = Tokenizer.load(Path(checkpoint) / TOKENIZER_FILE)
    max_positions = json.loads((Path(checkpoint) / CONFIG_FILE).read_text())["model"]["max_positions"]
    encoded = [TASKS["translate"].encode(tokenizer, s, max_positions, language_token("de"))[0] for s in sources]
    if engine == "transformers":
        search = transformers_search(exports["hf"], tokenizer, max_positions, beam, batch_size)
    elif engine.startswith("ctranslate2"):
        search = ctranslate2_search(exports["ctranslate2"], tokenizer, max_positions, engine, beam, batch_size, threads)
    else:
        search = nlpcli_search(checkpoint, engine, beam, batch_size)

    timings = []
    for _ in range(repeats):  # tokenization above and detokenization below stay outside the timed part
        started = time.perf_counter()
        outputs = search(encoded)
        timings.append(time.perf_counter() - started)
    target_tokens = sum(len(tokens) for tokens in outputs)
    seconds = sorted(timings)[len(timings) // 2]  # median
    hypotheses = [tokenizer.decode(tokens) for tokens in outputs]
    return {
        "engine": engine, "beam": beam, "batch_size": batch_size, "threads": threads, "sentences": len(sources),
        "target_tokens_per_s": round(target_tokens / seconds, 1), "sentences_per_s": round(len(sources) / seconds, 2),
        "seconds_median": round(seconds, 2), "repeats": repeats,
        "peak_rss_mib": peak_rss_mib(),
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


TEST_SETS = {  # name -> (source file, reference file) under the data folder
    "multi30k": ("translate/multi30k/val.en", "translate/multi30k/val.de"),
    "newstest2013": ("translate/wmt-newstest-de-en/dev.en", "translate/wmt-newstest-de-en/dev.de"),
}


def make_exports(checkpoint: str, engines: list[str], folder: Path) -> dict:
    """The shipped weights in the other engines' formats, written once, outside every timed process."""
    from nlpcli.convert import export_ctranslate2, export_hf

    exports = {}
    if "transformers" in engines:
        exports["hf"] = str(export_hf(checkpoint, folder / "hf"))
    if any(engine.startswith("ctranslate2") for engine in engines):
        exports["ctranslate2"] = str(export_ctranslate2(checkpoint, folder / "ctranslate2"))
    return exports


def start_up_seconds(checkpoint: str) -> dict:
    """Wall time of `nlpcli translate` on one line, next to what it cannot avoid:
    importing torch, and importing torch + loading the checkpoint."""
    load = f"import nlpcli.checkpoint as c; c.load_checkpoint({checkpoint!r})"
    commands = {
        "nlpcli translate, one line": ([sys.executable, "-m", "nlpcli", "translate", "--quiet", "-c", checkpoint], "A man runs.\n"),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], ""),
        "import torch + load checkpoint": ([sys.executable, "-c", load], ""),
    }
    timings = {}
    for name, (command, stdin) in commands.items():
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(command, input=stdin, text=True, check=True, capture_output=True)
            runs.append(time.perf_counter() - started)
        timings[name] = round(sorted(runs)[1], 2)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--checkpoint", default=str(Path(__file__).resolve().parent.parent / "checkpoints" / "nlpcli-base"),
                        help="one checkpoint, or several separated by commas (compared with the first)")
    parser.add_argument("--sets", default="multi30k,newstest2013", help=f"test sets: {', '.join(TEST_SETS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="first N sentences of each set only")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engines", default="nlpcli-default,nlpcli,nlpcli-int8,nlpcli-bf16,transformers,ctranslate2,ctranslate2-int8",
                        help="what to compare (transformers and ctranslate2 need the test extra)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one setting in a fresh process, as JSON
    args = parser.parse_args()

    if args.one:
        setting = json.loads(args.one)
        source, reference = TEST_SETS[setting["set"]]
        sources = (Path(args.data) / source).read_text(encoding="utf-8").splitlines()
        references = (Path(args.data) / reference).read_text(encoding="utf-8").splitlines()
        if args.limit:
            sources, references = sources[: args.limit], references[: args.limit]
        row = translate_once(args.checkpoint, sources, references, setting["beam"], args.batch_size, args.threads,
                             args.repeats, setting["engine"], setting["exports"])
        print(json.dumps({"set": setting["set"], **row}))
        return

    import tempfile

    from nlpcli.checkpoint import SHORTLIST_FILE

    engines = args.engines.split(",")
    checkpoints = args.checkpoint.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as staging:
        for number, checkpoint in enumerate(checkpoints):
            exports = make_exports(checkpoint, engines, Path(staging) / str(number))
            for test_set in args.sets.split(","):
                for engine in engines:
                    if engine.endswith("+shortlist") and not (Path(checkpoint) / SHORTLIST_FILE).is_file():
                        print(f"{checkpoint} has no vocabulary shortlist: {engine} skipped", file=sys.stderr)
                        continue
                    for beam in (1, 4):  # a fresh process per setting: its own peak RSS
                        setting = json.dumps({"set": test_set, "engine": engine, "beam": beam, "exports": exports})
                        command = [sys.executable, __file__, "--one", setting, "--data", args.data, "--checkpoint",
                                   checkpoint, "--threads", str(args.threads), "--batch-size", str(args.batch_size),
                                   "--repeats", str(args.repeats), "--limit", str(args.limit)]
                        run = subprocess.run(command, check=True, capture_output=True, text=True)
                        rows.append({"checkpoint": checkpoint, **json.loads(run.stdout)})
                        print(f"{checkpoint} {test_set} {engine} beam {beam}: {rows[-1]['target_tokens_per_s']} tgt tok/s",
                              file=sys.stderr)
    start_up = {checkpoint: start_up_seconds(checkpoint) for checkpoint in checkpoints}
    training = {checkpoint: training_throughput(json.loads((Path(checkpoint) / "config.json").read_text())["model"],
                                                args.threads) for checkpoint in checkpoints}
    if args.json:
        print(json.dumps({"translate": rows, "start_up_s": start_up, "training": training}, indent=2))
        return
    print(f"en->de, batch {args.batch_size}, {args.threads} threads, median of {args.repeats} "
          "(model load and tokenization excluded)")
    baseline = {(row["checkpoint"], row["set"], row["beam"]): row["target_tokens_per_s"]
                for row in rows if row["engine"] == "transformers"}
    first = {(row["set"], row["engine"], row["beam"]): row["target_tokens_per_s"]
             for row in rows if row["checkpoint"] == checkpoints[0]}
    print(f"{'checkpoint':<34}{'set':<14}{'engine':<23}{'search':<8}{'tgt tok/s':>11}{'sent/s':>9}{'peak RSS MiB':>14}"
          f"{'BLEU':>8}{'x transformers':>16}{'x first':>9}")
    for row in rows:
        search = "greedy" if row["beam"] == 1 else f"beam {row['beam']}"
        base = baseline.get((row["checkpoint"], row["set"], row["beam"]))
        ratio = f"{row['target_tokens_per_s'] / base:.2f}" if base else "-"
        # a shortlist engine is compared with the first checkpoint's same engine, or without the shortlist if it
        # has none; "-" where the first checkpoint ran neither (e.g. int8+shortlist against a release 1 run without int8)
        reference = (first.get((row["set"], row["engine"], row["beam"]))
                     or first.get((row["set"], row["engine"].removesuffix("+shortlist"), row["beam"])))
        against_first = f"{row['target_tokens_per_s'] / reference:.2f}" if reference else "-"
        print(f"{row['checkpoint'][-33:]:<34}{row['set']:<14}{row['engine']:<23}{search:<8}{row['target_tokens_per_s']:>11}"
              f"{row['sentences_per_s']:>9}{row['peak_rss_mib']:>14}{row['bleu']:>8}{ratio:>16}{against_first:>9}")
    for checkpoint in checkpoints:
        print(f"{checkpoint}: start-up, median of 3 (seconds):")
        for name, seconds in start_up[checkpoint].items():
            print(f"  {name:<34}{seconds:>6}")
        speeds = training[checkpoint]
        print(f"  training, forward+backward, batch {speeds['batch']}x{speeds['length']}, {speeds['threads']} threads:")
        for name, speed in speeds["train_target_tokens_per_s"].items():
            print(f"    {name:<22}{speed:>10} target tok/s")


if __name__ == "__main__":
    main()
