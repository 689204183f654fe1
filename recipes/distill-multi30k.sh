#!/usr/bin/env bash
# Sequence-level knowledge distillation on Multi30k (Kim & Rush 2016): for each direction in
# DIRECTIONS, the release's training targets become a teacher's beam-4 translations of the source side.
#
#   bash recipes/distill-multi30k.sh ../shared/data runs/kd-data
#   nlpcli train runs/kd-data/nlpcli-2-kd.toml --data runs/kd-data --from-trunk COPY --cooldown 1000 \
#       --out runs/cool-kd --threads 1 --set train.eval_every=100000
#
# OVERLAY becomes a data folder for that recipe: links to DATA's task folders plus, per direction
# SRC-TGT, translate/multi30k-kd-SRC-TGT/train.{SRC,TGT} (source as is, target from the teacher), and
# OVERLAY/nlpcli-2-kd.toml is recipes/nlpcli-2.toml with each distilled direction trained on its
# distilled set instead of Multi30k's references. docs/release-2.md, "Distilled de->en targets" and
# "Distilled both ways", has the measurements. Set in the environment: DIRECTIONS (default "en-de de-en"), TEACHER (default
# checkpoints/translate-en-de, the best model here in both directions) and LIMIT (first N sentences,
# for a dry run). The translation takes ~10 min per direction on one core; a direction whose targets
# OVERLAY already holds in full is kept, so the two can run side by side, one per core, before a last
# run with both DIRECTIONS writes the recipe:
#   DIRECTIONS=en-de bash recipes/distill-multi30k.sh DATA OVERLAY & DIRECTIONS=de-en bash recipes/distill-multi30k.sh DATA OVERLAY; wait
#   bash recipes/distill-multi30k.sh DATA OVERLAY
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash recipes/distill-multi30k.sh DATA OVERLAY" >&2; exit 2; }
cd "$(dirname "$0")/.."
DATA=$(realpath "$1")
OVERLAY=$2
DIRECTIONS=${DIRECTIONS:-en-de de-en}
TEACHER=${TEACHER:-checkpoints/translate-en-de}
LIMIT=${LIMIT:-0}
for direction in $DIRECTIONS; do  # checked before the first, slow translation
    case $direction in en-de|de-en) ;; *) echo "DIRECTIONS: '$direction' is not en-de or de-en" >&2; exit 2 ;; esac
done

mkdir -p "$OVERLAY/translate"
for task in "$DATA"/*/; do
    [ "$(basename "$task")" = translate ] || ln -sfn "$task" "$OVERLAY/$(basename "$task")"
done
for corpus in "$DATA"/translate/*/; do
    ln -sfn "$corpus" "$OVERLAY/translate/$(basename "$corpus")"
done
for direction in $DIRECTIONS; do
    src=${direction%-*} tgt=${direction#*-}
    KD=$OVERLAY/translate/multi30k-kd-$direction
    mkdir -p "$KD"
    if [ -s "$KD/train.$tgt" ] && [ "$LIMIT" -eq 0 ] \
        && [ "$(wc -l < "$KD/train.$tgt")" -eq "$(wc -l < "$DATA/translate/multi30k/train.$src")" ]; then
        echo "kept $KD/train.$tgt (an earlier run's; delete it to translate again)"
        continue
    fi
    if [ "$LIMIT" -gt 0 ]; then head -n "$LIMIT" "$DATA/translate/multi30k/train.$src"; else cat "$DATA/translate/multi30k/train.$src"; fi > "$KD/train.$src"
    python -m nlpcli translate -c "$TEACHER" --src "$src" --tgt "$tgt" --beam 4 --batch-size 64 --threads 1 < "$KD/train.$src" > "$KD/train.$tgt.part"
    mv "$KD/train.$tgt.part" "$KD/train.$tgt"
    echo "wrote $KD/train.$tgt ($(wc -l < "$KD/train.$tgt") sentences)"
done

python - "$OVERLAY/nlpcli-2-kd.toml" $DIRECTIONS <<'EOF'
import json
import sys
from pathlib import Path

recipe = Path("recipes/nlpcli-2.toml").read_text(encoding="utf-8")
distilled = sys.argv[2:]
multi30k = '[[data.train]]\nname = "multi30k"\npath = "translate/multi30k/train"\nlanguages = ["en", "de"]\ndirections = ["en-de", "de-en"]\n'
assert multi30k in recipe, "recipes/nlpcli-2.toml no longer has the Multi30k training set this script rewrites"
references = [d for d in ("en-de", "de-en") if d not in distilled]
tables = [multi30k.replace('["en-de", "de-en"]', json.dumps(references))] if references else []
tables += [f'[[data.train]]\nname = "multi30k-kd-{d}"\npath = "translate/multi30k-kd-{d}/train"\n'
           f'languages = ["en", "de"]\ndirections = ["{d}"]\n' for d in distilled]
Path(sys.argv[1]).write_text(recipe.replace(multi30k, "\n".join(tables)), encoding="utf-8")
EOF
echo "wrote $OVERLAY/nlpcli-2-kd.toml"
