#!/usr/bin/env bash
# Release 2 on a lent GPU machine: continue the trunk for a few minutes with a larger batch, cool a
# copy down into a release, evaluate it on every dev set, and bring trunk + release + scores back.
#
# The device tool sends the working tree (at most 64 MiB) and returns at most 8 files of 16 MiB from
# $OUT, so this script has three steps:
#
#   bash recipes/gpu-release.sh pack       # here: .gpu/ = the recipe's data (xz) + wheels the GPU image lacks
#   mv checkpoints /tmp/nlpcli-checkpoints # here: keeps the tree under 64 MiB (the GPU run does not need them)
#   device run: command "bash recipes/gpu-release.sh run", carry [".gpu"], timeout_s 600
#   mv /tmp/nlpcli-checkpoints checkpoints
#   bash recipes/gpu-release.sh unpack DIR # here, DIR = the files_at folder: trunk -> trunk/nlpcli-2,
#                                          # release -> runs/gpu-release/checkpoint, scores -> runs/gpu-release/eval
#
# The release replaces checkpoints/nlpcli-base only if it beats it on every dev set (its model card says so).
# Budget inside the 10-minute call: ~1 min start-up, CONTINUE_MINUTES of trunk, COOLDOWN_STEPS of cooldown,
# ~1.5 min for the release's shortlist and calibration, ~2 min of evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=recipes/nlpcli-2.toml
TRUNK=trunk/nlpcli-2
CONTINUE_MINUTES=${CONTINUE_MINUTES:-4}
COOLDOWN_STEPS=${COOLDOWN_STEPS:-600}
DEVICE=${DEVICE:-cuda}           # DEVICE=cpu with small numbers above: a dry run of the whole script here
EVAL_TASKS=${EVAL_TASKS:-translate,summarize,answer,classify-sentiment,tag-entities}
GPU_BATCH=(--set train.batch_tokens=16384 --set train.eval_every=1000000 --set train.save_every=200)
# the data files nlpcli-2.toml and recipes/evaluate.py read (relative to the data folder)
DATA_FILES=(translate/multi30k/train.en translate/multi30k/train.de translate/multi30k/val.en translate/multi30k/val.de
  translate/manythings-deu-eng/deu.txt translate/wmt-newstest-de-en/train.en translate/wmt-newstest-de-en/train.de
  translate/wmt-newstest-de-en/dev.en translate/wmt-newstest-de-en/dev.de
  summarize/aeslc/train.jsonl summarize/aeslc/dev.jsonl summarize/reuters21578-headlines/train.jsonl
  summarize/reuters21578-headlines/dev.jsonl summarize/bbc-news-summary/train.jsonl summarize/bbc-news-summary/dev.jsonl
  classify-sentiment/sst2/train.tsv classify-sentiment/sst2/dev.tsv classify-sentiment/imdb/train.jsonl
  tag-entities/conll2003/train.txt tag-entities/conll2003/dev.txt answer/squad-v1.1/train-v1.1.json)

pack() {
  local data=${1:-../shared/data}
  mkdir -p .gpu
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  tar -C "$data" -cf - "${DATA_FILES[@]}" | xz -6 -T2 > .gpu/data.tar.xz
  # rouge-score and nltk (pure Python) are not in the GPU image; everything else nlpcli needs is
  python3 -m pip wheel -q --no-deps -w .gpu rouge-score nltk
  du -sh .gpu
}

run() {
  : "${OUT:?run this on the device machine, where OUT is set}"
  local data=/tmp/nlpcli-data work=/tmp/nlpcli-work
  mkdir -p "$data" "$work"
  tar -C "$data" -xJf .gpu/data.tar.xz
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/*.whl
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
  [ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  cp -r "$TRUNK" "$work/trunk"
  python3 -m nlpcli train "$RECIPE" --data "$data" --trunk "$work/trunk" --steps 1000000 --max-time "$CONTINUE_MINUTES" \
    --out "$work/continue" --device "$DEVICE" "${GPU_BATCH[@]}"
  python3 -m nlpcli train "$RECIPE" --data "$data" --from-trunk "$work/trunk" --cooldown "$COOLDOWN_STEPS" \
    --out "$work/release" --device "$DEVICE" "${GPU_BATCH[@]}"
  # a release carries its vocabulary shortlist and its per-task temperatures fitted on dev (README)
  python3 recipes/shortlist.py --data "$data" --recipe "$RECIPE" --checkpoint "$work/release/checkpoint"
  python3 recipes/calibrate.py --data "$data" --checkpoint "$work/release/checkpoint" --record > "$work/calibration.json"
  python3 recipes/evaluate.py --data "$data" --checkpoint "$work/release/checkpoint" --work "$work/eval" --record \
    --tasks "$EVAL_TASKS" --translation-sets multi30k-val,manythings-dev | tee "$work/scores.txt"
  # at most 8 files of 16 MiB come back: one archive, cut into 15 MiB parts, and the scores as text
  tar -C "$work" -cf - trunk release/checkpoint scores.txt | split -b 15M - "$OUT/gpu-release.tar.part-"
  cp "$work/scores.txt" "$OUT/"
  ls -la "$OUT"
}

unpack() {
  local from=${1:?give the folder the device tool put the files in}
  local staging
  staging=$(mktemp -d)
  cat "$from"/gpu-release.tar.part-* | tar -C "$staging" -xf -
  rm -rf "$TRUNK.previous" && mv "$TRUNK" "$TRUNK.previous" && mv "$staging/trunk" "$TRUNK" && rm -rf "$TRUNK.previous"
  mkdir -p runs/gpu-release && rm -rf runs/gpu-release/checkpoint
  mv "$staging/release/checkpoint" runs/gpu-release/checkpoint
  cp "$staging/scores.txt" runs/gpu-release/scores.txt
  echo "trunk -> $TRUNK (step $(python3 -c "import json;print(json.load(open('$TRUNK/state.json'))['step'])"));" \
       "release -> runs/gpu-release/checkpoint; scores -> runs/gpu-release/scores.txt"
}

"${1:?usage: gpu-release.sh pack [DATA] | run | unpack DIR}" "${@:2}"
