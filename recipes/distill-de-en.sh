#!/usr/bin/env bash
# Sequence-level knowledge distillation for de->en (Kim & Rush 2016): the release's de->en
# training targets become a teacher's beam-4 translations of Multi30k's German training side.
#
#   bash recipes/distill-de-en.sh ../shared/data runs/kd-data
#   nlpcli train runs/kd-data/nlpcli-2-kd.toml --data runs/kd-data --from-trunk COPY --cooldown 1000 \
#       --out runs/cool-kd --threads 1 --set train.eval_every=100000
#
# OVERLAY becomes a data folder for that recipe: links to DATA's task folders plus
# translate/multi30k-kd-de-en/train.{de,en} (German as is, English from the teacher), and
# OVERLAY/nlpcli-2-kd.toml is recipes/nlpcli-2.toml with Multi30k trained en->de only and the
# distilled set trained de->en only. docs/release-2.md, "Distilled de->en targets", has its measurements.
# TEACHER (default checkpoints/translate-en-de, the best de->en model here) and LIMIT (first N
# sentences, for a dry run) may be set in the environment; the translation takes ~10 min on one core.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash recipes/distill-de-en.sh DATA OVERLAY" >&2; exit 2; }
cd "$(dirname "$0")/.."
DATA=$(realpath "$1")
OVERLAY=$2
TEACHER=${TEACHER:-checkpoints/translate-en-de}
LIMIT=${LIMIT:-0}
KD=$OVERLAY/translate/multi30k-kd-de-en

mkdir -p "$KD"
for task in "$DATA"/*/; do
    [ "$(basename "$task")" = translate ] || ln -sfn "$task" "$OVERLAY/$(basename "$task")"
done
for corpus in "$DATA"/translate/*/; do
    ln -sfn "$corpus" "$OVERLAY/translate/$(basename "$corpus")"
done
if [ "$LIMIT" -gt 0 ]; then head -n "$LIMIT" "$DATA/translate/multi30k/train.de"; else cat "$DATA/translate/multi30k/train.de"; fi > "$KD/train.de"
python -m nlpcli translate -c "$TEACHER" --src de --tgt en --beam 4 --batch-size 64 --threads 1 < "$KD/train.de" > "$KD/train.en.part"
mv "$KD/train.en.part" "$KD/train.en"

python - "$OVERLAY/nlpcli-2-kd.toml" <<'EOF'
import sys
from pathlib import Path

recipe = Path("recipes/nlpcli-2.toml").read_text(encoding="utf-8")
multi30k = '[[data.train]]\nname = "multi30k"\npath = "translate/multi30k/train"\nlanguages = ["en", "de"]\ndirections = ["en-de", "de-en"]\n'
assert multi30k in recipe, "recipes/nlpcli-2.toml no longer has the Multi30k training set this script rewrites"
distilled = (multi30k.replace('["en-de", "de-en"]', '["en-de"]')
             + '\n[[data.train]]\nname = "multi30k-kd-de-en"\npath = "translate/multi30k-kd-de-en/train"\n'
               'languages = ["en", "de"]\ndirections = ["de-en"]\n')
Path(sys.argv[1]).write_text(recipe.replace(multi30k, distilled), encoding="utf-8")
EOF
echo "wrote $KD/train.en ($(wc -l < "$KD/train.en") sentences) and $OVERLAY/nlpcli-2-kd.toml"
