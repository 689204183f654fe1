"""Average the weights of checkpoints of one lineage into a new checkpoint (a "model soup").

    python recipes/average.py runs/cool-kd8/checkpoint checkpoints/nlpcli-2 --out runs/soup [--weights 0.5,0.5]

Two cooldowns of the same trunk (docs/release-2.md, "Candidate 24") end near each other, and their mean
averages away what each cooldown's own steps added as noise. The new checkpoint takes its config from the
first one, less the scores and temperatures measured on that one's weights; its training history lists every
run behind any of them once, and the average last. Make a release of it with the usual steps (shortlist,
calibration, evaluation; docs/release-2.md, "Release 2.1").
"""
import argparse
import shlex
import sys

from nlpcli.errors import NlpcliError
from nlpcli.training.averaging import average_checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="two or more checkpoint folders")
    parser.add_argument("--out", required=True, help="the new checkpoint folder")
    parser.add_argument("--weights", help="comma-separated, one per checkpoint (default: equal)")
    args = parser.parse_args()
    try:
        weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(args.checkpoints)
    except ValueError:
        sys.exit(f"average: --weights takes numbers separated by commas, not {args.weights!r}")
    command = shlex.join(["python", "recipes/average.py", *sys.argv[1:]])
    try:
        training = average_checkpoints(args.checkpoints, weights, args.out, command)
    except (NlpcliError, ValueError) as error:
        sys.exit(f"average: {error}")
    print(f"wrote {args.out}: {training['weights']}", file=sys.stderr)


if __name__ == "__main__":
    main()
