"""Peak memory of a task command as input grows: it must not grow with input length.

    python benchmarks/stream_memory.py [--lines 10000,1000000] [--task classify-sentiment]

For each size, generated lines (2 to 6 review-like words, a blank line every
50th) are piped into `nlpcli <task>` with the shipped checkpoint, output
goes to /dev/null, and the command's peak RSS is read from the kernel
(wait4's rusage of that process alone). Prints lines, seconds, lines/s and
peak RSS per size, and the ratio of the largest to the smallest.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORDS = "the a film movie plot actors story was is very quite not good great bad awful boring wonderful and but".split()


def generated_lines(n: int):
    for i in range(n):
        if i % 50 == 49:
            yield "\n"
            continue
        k = 2 + (i * 7919) % 5  # short lines: a million of them run in minutes, not hours
        yield " ".join(WORDS[(i * 31 + j * 17) % len(WORDS)] for j in range(k)) + ".\n"


def measure(task: str, n: int, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "nlpcli", task, "--quiet", "--batch-size", "64", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    buffer = []
    for line in generated_lines(n):
        buffer.append(line)
        if len(buffer) == 10_000:
            child.stdin.write("".join(buffer).encode())
            buffer = []
    child.stdin.write("".join(buffer).encode())
    child.stdin.close()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return {"lines": n, "seconds": round(seconds, 1), "lines_per_s": round(n / seconds),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", default="10000,1000000")
    parser.add_argument("--task", default="classify-sentiment", help="the cheapest task: encoder only, short lines")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    results = [measure(args.task, int(n), extra) for n in args.lines.split(",")]
    growth = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    if args.json:
        print(json.dumps({"task": args.task, "results": results, "rss_ratio": round(growth, 3)}, indent=2))
        return
    print(f"nlpcli {args.task}, output to /dev/null, batch 64")
    print(f"{'lines':>10} {'seconds':>9} {'lines/s':>9} {'peak RSS MiB':>13}")
    for r in results:
        print(f"{r['lines']:>10,} {r['seconds']:>9} {r['lines_per_s']:>9,} {r['peak_rss_mib']:>13}")
    print(f"peak RSS ratio, largest / smallest input: {growth:.3f}")


if __name__ == "__main__":
    main()
