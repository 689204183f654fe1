#!/usr/bin/env bash
# A GPU lease in one call: continue the trunk for T1 seconds of training at BATCH tokens a step,
# then cool two copies of it down side by side on the same GPU (A: Multi30k distilled both ways;
# B: the same plus Multi30k's de->en references) for as many steps as the time left allows, and
# leave in $OUT the trunk and the cooled candidate with the better greedy de->en dev BLEU.
# At most 8 files come back from a lease, so logs travel as one tar. docs/release-2.md,
# "The trunk on a GPU: the thirty-seventh continuation and candidate 21", has the run and its figures.
#
# The lease's machine has torch but not the data or rouge-score: pack them into .gpudata (ignored
# through .git/info/exclude and named in the call's carry), from the repository root:
#   bash recipes/distill-multi30k.sh ../shared/data runs/kd2-data        # the distilled targets
#   SP=$(echo .venv/lib/python3*/site-packages); tar -C $SP -cf - rouge_score nltk | xz > .gpudata/site.tar.xz
#   (cd ../shared/data && tar -cf - translate/multi30k/{train,val}.{en,de} translate/manythings-deu-eng/deu.txt \
#       translate/wmt-newstest-de-en/train.{en,de} summarize/{aeslc,reuters21578-headlines,bbc-news-summary}/{train,dev}.jsonl \
#       classify-sentiment/sst2/{train,dev}.tsv classify-sentiment/imdb/train.jsonl tag-entities/conll2003/{train,dev}.txt \
#       answer/squad-v1.1/train-v1.1.json | xz) > .gpudata/data.tar.xz       # the files recipes/nlpcli-2.toml reads
#   (cd runs/kd2-data && tar -cf - translate/multi30k-kd-*) | xz > .gpudata/kd.tar.xz
#   cp runs/kd2-data/nlpcli-2-kd.toml .gpudata/kd-both.toml
#   python3 -c 'import sys; r = open(sys.argv[1]).read(); kd = "[[data.train]]\nname = \"multi30k-kd-en-de\""; \
#       refs = "[[data.train]]\nname = \"multi30k\"\npath = \"translate/multi30k/train\"\nlanguages = [\"en\", \"de\"]\ndirections = [\"de-en\"]\n\n"; \
#       open(sys.argv[2], "w").write(r.replace(kd, refs + kd, 1))' .gpudata/kd-both.toml .gpudata/kd-both-refs-deen.toml
# A lease sends at most 64 MiB of working tree: with the data that means leaving checkpoints/ out of the
# index for the call (git rm -r --cached checkpoints; git reset after).
# Then: OUT=$OUT BUDGET=545 T1=150 bash recipes/gpu-lease.sh (the call's timeout_s 600).
set -uo pipefail
export PYTHONUNBUFFERED=1
START=$(date +%s)
BUDGET=${BUDGET:-550}        # seconds this script may take in all
DEVICE=${DEVICE:-cuda}
T1=${T1:-200}                # seconds of trunk training
BATCH=${BATCH:-32768}
CMAX=${CMAX:-4000}
OUT=${OUT:?}
PY=${PY:-python3}
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
    --max-time "$(python3 -c "print($T1 / 60)")" --out /tmp/run-trunk --device "$DEVICE" --batch-tokens "$BATCH" \
    --set train.eval_every=1000000 --set train.save_every=1000000 > /tmp/logs/trunk.log 2>&1
say "stage 1 rc=$?"
tar -cf - trunk/nlpcli-2 | split -b 15M - "$OUT/trunk.tar.part-"
S1WALL=$(( $(now) - S1 ))
say "trunk sent back ($(du -sh trunk/nlpcli-2 | cut -f1)); stage 1 took $S1WALL s"

# steps a second in stage 1, from its training-loss events (elapsed_s is the trunk's running total)
RATE=$(python3 - /tmp/run-trunk/metrics.jsonl <<'EOF'
import json, sys
events = [e for e in map(json.loads, open(sys.argv[1])) if "elapsed_s" in e and "dev" not in e]
first, last = events[0], events[-1]
print(round((last["step"] - first["step"]) / max(1e-9, last["elapsed_s"] - first["elapsed_s"]), 3))
EOF
)
OVERHEAD=$(( S1WALL - T1 ))
LEFT=$(( BUDGET - $(now) - 30 ))
# two cooldowns share the GPU: each is counted at 0.6 of the rate, its start and validation at 1.4x stage 1's
C=$(python3 -c "print(max(0, min($CMAX, int(0.6 * $RATE * ($LEFT - 1.4 * $OVERHEAD)))))")
say "rate $RATE steps/s, overhead $OVERHEAD s, $LEFT s left: cooldowns of $C steps"
if [ "$C" -ge "${MINC:-200}" ]; then
    for variant in kd-both kd-both-refs-deen; do
        cp -r trunk/nlpcli-2 "/tmp/trunk-$variant"
        timeout $(( LEFT - 5 )) $PY -m nlpcli train ".gpudata/$variant.toml" --data /tmp/data --from-trunk "/tmp/trunk-$variant" \
            --cooldown "$C" --out "/tmp/cool-$variant" --device "$DEVICE" --batch-tokens "$BATCH" \
            --set train.eval_every=1000000 --set train.save_every=1000000 > "/tmp/logs/cool-$variant.log" 2>&1 &
    done
    wait
    say "cooldowns ended"
    BEST=$(python3 - <<'EOF'
import json
import sys
from pathlib import Path
scores = {}
for variant in ("kd-both", "kd-both-refs-deen"):
    config = Path(f"/tmp/cool-{variant}/checkpoint/config.json")
    if config.is_file():
        dev = json.loads(config.read_text())["training"]["dev_scores_greedy"]
        scores[variant] = dev.get("multi30k-val.de-en", {}).get("bleu", 0)
        print(variant, json.dumps(dev), file=sys.stderr)
print(max(scores, key=scores.get) if scores else "")
EOF
)
    for variant in kd-both kd-both-refs-deen; do
        [ -f "/tmp/cool-$variant/checkpoint/config.json" ] && cp "/tmp/cool-$variant/checkpoint/config.json" "/tmp/logs/config-$variant.json"
    done
    if [ -n "$BEST" ]; then
        tar -C "/tmp/cool-$BEST" -cf - checkpoint | split -b 15M - "$OUT/cand-$BEST.tar.part-"
        say "sent back candidate $BEST"
    fi
fi
cp /tmp/run-trunk/metrics.jsonl /tmp/logs/trunk-metrics.jsonl 2>/dev/null
tar -C /tmp -czf "$OUT/logs.tar.gz" logs
say "done"
