"""Training throughput of `nlpcli train`: one process against torchrun with
several, the same recipe and the same global batch (accumulation split over
the ranks), and on a GPU the model FLOPs utilisation.

    python benchmarks/train_speed.py --data ../shared/data [--recipe recipes/translate-en-de.toml]
           [--steps 100] [--processes 1,2] [--device cpu|cuda] [--peak-tflops 989]

Each run trains --steps steps from scratch (its tokenizer reused from a first
run, so tokenizer training is not timed) and reports the source tokens/s of
its last logged window of 50 steps, as the trainer's metrics.jsonl records
it (validation excluded). MFU = 6 x parameters x tokens/s / peak FLOP/s,
the usual dense-Transformer estimate (forward + backward); peak defaults to
989 TFLOP/s, an H100/H200's dense bf16 figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, processes: int, out: Path, tokenizer: Path | None) -> dict:
    overrides = ["--set", f"train.accumulation={args.accumulation}", "--set", f"train.eval_every={10 * args.steps}",
                 "--set", f"train.save_every={10 * args.steps}", "--set", "train.init_from=''"]
    common = ["train", args.recipe, "--data", args.data, "--out", str(out), "--steps", str(args.steps),
              "--device", args.device, *overrides]
    if tokenizer:  # reuse the first run's tokenizer: --resume on a folder holding only it
        out.mkdir(parents=True)
        shutil.copy(tokenizer, out / "tokenizer.model")
        common.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.threads // processes))}
    if processes == 1:
        command = [sys.executable, "-m", "nlpcli", *common, "--threads", str(args.threads)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   f"--master_port={free_port()}", "-m", "nlpcli", *common]
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [e for e in events if "tokens_per_s" in e][-1]
    return {"processes": processes, "tokens_per_s": round(last["tokens_per_s"]), "step": last["step"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--recipe", default="recipes/translate-en-de.toml")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--accumulation", type=int, default=2, help="micro-batches per step in total (a multiple of every process count)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads in total, split over the processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nlpcli-train-speed-"))
    results, tokenizer = [], None
    for processes in (int(p) for p in args.processes.split(",")):
        out = work / f"p{processes}"
        results.append(run(args, processes, out, tokenizer))
        tokenizer = tokenizer or out / "tokenizer.model"
    from nlpcli.checkpoint import load_checkpoint

    parameters = load_checkpoint(next(work.glob("p*/checkpoint"))).model.num_parameters()
    for r in results:
        r["mfu"] = round(6 * parameters * r["tokens_per_s"] / (args.peak_tflops * 1e12), 4) if args.device.startswith("cuda") else None
    if args.json:
        print(json.dumps({"recipe": args.recipe, "parameters": parameters, "results": results}, indent=2))
    else:
        print(f"{args.recipe}: {parameters:,} parameters, {args.steps} steps, accumulation {args.accumulation}, device {args.device}")
        for r in results:
            mfu = f"  MFU {100 * r['mfu']:.1f} %" if r["mfu"] is not None else ""
            print(f"{r['processes']} process(es): {r['tokens_per_s']:,} source tokens/s{mfu}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
