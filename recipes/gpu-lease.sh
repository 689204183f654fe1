#!/usr/bin/env bash
# A GPU lease in one call: continue the trunk for T1 seconds of training at BATCH tokens a step, cool
# a copy of it down (Multi30k distilled both ways, the recipe of candidates 18, 20 and 21) for as many
# steps as the time left allows, score that candidate on every dev set (recipes/evaluate.py), and leave
# in $OUT the trunk, the candidate and the logs: six files at most, under the lease's eight.
#
#   bash recipes/gpu-lease.sh pack DATA                                 # here, before the lease
#   OUT=$OUT BUDGET=580 T1=180 bash recipes/gpu-lease.sh                # the lease's call: carry [".gpudata"], timeout_s 600
#
# `pack` builds .gpudata/, what the lease's machine lacks (it has torch): the files recipes/nlpcli-2.toml
# reads from DATA, the distilled targets (recipes/distill-multi30k.sh into runs/kd-data, kept if there)
# and rouge-score with nltk. Add .gpudata to .git/info/exclude. A lease carries at most 64 MiB of working
# tree, so leave checkpoints/ out of the index for the call (git rm -r -q --cached checkpoints, and
# /checkpoints/ in .git/info/exclude; git reset -q and remove that line after).
#
# Stage 1 keeps AdamW's moments in the trunk it writes there, so the cooldown continues them instead
# of re-warming the lr for its first 100 steps; the trunk sent back is made weights-only first, as the
# repository keeps it (trunk.drop_moments). docs/release-2.md, "The trunk on a GPU", has the leases
# and their figures: each stage pays about 128 s (before 132e126: 74 s of it encoding SQuAD) of start
# and closing validation, so a lease is one trunk stage and one cooldown.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}

if [ "${1:-}" = pack ]; then
    [ $# -eq 2 ] || { echo "usage: bash recipes/gpu-lease.sh pack DATA" >&2; exit 2; }
    set -e
    DATA=$(realpath "$2") KD=runs/kd-data
    mkdir -p .gpudata
    bash recipes/distill-multi30k.sh "$DATA" "$KD"
    $PY - "$DATA" > .gpudata/data-files <<'EOF'
import sys
from pathlib import Path

from nlpcli.training.recipe import load_recipe

recipe, data = load_recipe(Path("recipes/nlpcli-2.toml")), Path(sys.argv[1])
files = set()
for spec in recipe.train_data + recipe.dev_data:  # a path is a file, or the stem of one file per language
    path = data / spec.path
    files.update([path] if path.is_file() else [path.with_name(f"{path.name}.{language}") for language in spec.languages])
print("\n".join(sorted(str(f.relative_to(data)) for f in files)))
EOF
    tar -C "$DATA" -cf - -T .gpudata/data-files | xz -T2 > .gpudata/data.tar.xz
    tar -C "$KD" -cf - translate/multi30k-kd-en-de translate/multi30k-kd-de-en | xz > .gpudata/kd.tar.xz
    cp "$KD/nlpcli-2-kd.toml" .gpudata/kd-both.toml
    SITE=$($PY -c "import rouge_score, os; print(os.path.dirname(os.path.dirname(rouge_score.__file__)))")
    tar -C "$SITE" -cf - rouge_score nltk | xz > .gpudata/site.tar.xz
    du -ch .gpudata/*.tar.xz | tail -1
    exit 0
fi

export PYTHONUNBUFFERED=1
START=$(date +%s)
BUDGET=${BUDGET:-580}        # seconds this script may take in all
DEVICE=${DEVICE:-cuda}
T1=${T1:-180}                # seconds of trunk training
BATCH=${BATCH:-32768}
CMAX=${CMAX:-4000}           # cooldown steps at most
COOLDOWN=${COOLDOWN:-}       # cooldown steps, instead of as many as the time left allows
MINC=${MINC:-200}            # fewer cooldown steps than this: the trunk stage's own export is the candidate
EVAL=${EVAL:-60}             # seconds kept for scoring the candidate on the dev sets (0: no scoring)
EVAL_TASKS=${EVAL_TASKS:-translate,classify-sentiment,tag-entities,answer,summarize}
OUT=${OUT:?}
now() { echo $(( $(date +%s) - START )); }
say() { echo "[$(now)s] $*" | tee -a "$OUT/run.log"; }

mkdir -p /tmp/site /tmp/data /tmp/logs
tar -xJf .gpudata/site.tar.xz -C /tmp/site && tar -xJf .gpudata/data.tar.xz -C /tmp/data \
    && tar -xJf .gpudata/kd.tar.xz -C /tmp/data || { say "unpacking failed"; exit 1; }
export PYTHONPATH=$PWD:/tmp/site
say "unpacked; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1)"

say "stage 1: trunk continuation, $T1 s at $BATCH tokens a step"
S1=$(now)
$PY -m nlpcli train recipes/nlpcli-2.toml --data /tmp/data --trunk trunk/nlpcli-2 --steps 100000 \
    --max-time "$($PY -c "print($T1 / 60)")" --out /tmp/run-trunk --device "$DEVICE" --batch-tokens "$BATCH" \
    --set train.eval_every=1000000 --set train.save_every=1000000 --set train.trunk_max_mib=1000 --overwrite > /tmp/logs/trunk.log 2>&1
RC=$?
say "stage 1 rc=$RC"
send_logs() {
    cp /tmp/run-trunk/metrics.jsonl /tmp/logs/trunk-metrics.jsonl 2>/dev/null
    cp /tmp/run-cool/metrics.jsonl /tmp/logs/cool-metrics.jsonl 2>/dev/null
    tar -C /tmp -czf "$OUT/logs.tar.gz" logs
    say "done"
}
[ "$RC" -eq 0 ] || { send_logs; exit 1; }
cp -r trunk/nlpcli-2 /tmp/trunk-cool  # with its moments, for the cooldown
$PY -c "from nlpcli.training import trunk; trunk.drop_moments('trunk/nlpcli-2')" \
    && tar -cf - trunk/nlpcli-2 | split -b 15M - "$OUT/trunk.tar.part-"
S1WALL=$(( $(now) - S1 ))
say "trunk sent back ($(du -sh trunk/nlpcli-2 | cut -f1)); stage 1 took $S1WALL s"

# steps a second in stage 1, from its training-loss events (elapsed_s is the trunk's running total)
RATE=$($PY - /tmp/run-trunk/metrics.jsonl <<'EOF'
import json, sys
events = [e for e in map(json.loads, open(sys.argv[1])) if "elapsed_s" in e and "dev" not in e]
first, last = events[0], events[-1]
print(round((last["step"] - first["step"]) / max(1e-9, last["elapsed_s"] - first["elapsed_s"]), 3))
EOF
)
OVERHEAD=$(( S1WALL - T1 ))
LEFT=$(( BUDGET - $(now) - EVAL - 20 ))
# the cooldown is counted at 0.9 of stage 1's rate, its start and validation at 1.6x stage 1's: on the second
# lease (65,536 tokens a step) it trained at 0.88 of stage 1's rate, but its start and closing validation
# took about 100 s against stage 1's 72, and 1.1x cut it off 107 steps before its end
C=${COOLDOWN:-$($PY -c "print(max(0, min($CMAX, int(0.9 * $RATE * ($LEFT - 1.6 * $OVERHEAD)))))")}
say "rate $RATE steps/s, overhead $OVERHEAD s, $LEFT s left before scoring: a cooldown of $C steps"
CANDIDATE=/tmp/run-trunk/checkpoint
if [ "$C" -ge "$MINC" ]; then
    timeout "$LEFT" $PY -m nlpcli train .gpudata/kd-both.toml --data /tmp/data --from-trunk /tmp/trunk-cool \
        --cooldown "$C" --out /tmp/run-cool --device "$DEVICE" --batch-tokens "$BATCH" \
        --set train.eval_every=1000000 --set train.save_every=1000000 --overwrite > /tmp/logs/cool.log 2>&1
    say "cooldown rc=$?"
    [ -f /tmp/run-cool/checkpoint/config.json ] && CANDIDATE=/tmp/run-cool/checkpoint
fi
if [ -f "$CANDIDATE/config.json" ]; then
    tar -C "$(dirname "$CANDIDATE")" -cf - checkpoint | split -b 15M - "$OUT/candidate.tar.part-"
    say "sent back the candidate $CANDIDATE"
    SCORING=$(( BUDGET - $(now) - 15 ))
    if [ "$EVAL" -gt 0 ] && [ "$SCORING" -gt 20 ]; then
        timeout "$SCORING" $PY recipes/evaluate.py --data /tmp/data --checkpoint "$CANDIDATE" --work /tmp/logs/evaluate \
            --tasks "$EVAL_TASKS" --translation-sets multi30k-val > /tmp/logs/evaluate.txt 2>&1
        say "scoring rc=$? (124: out of time; logs.tar.gz has evaluate.txt and the outputs scored so far)"
    fi
fi
send_logs
