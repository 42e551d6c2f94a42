#!/usr/bin/env bash
# The main job on the embedded toy dataset, end to end on the CPU:
# generate the data, embed its hierarchy, train the CPG model (two prototype
# projections), test it at clip and video level, and explain one validation
# video. Run tools/setup_env.sh first (the README's first command does).
#
#   bash tools/run_toy_demo.sh            # outputs under work_dirs/toy_demo
#
# Environment: PY (default .venv/bin/python), WORK (default work_dirs/toy_demo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/toy_demo}
CONFIG=configs/toy/hproto_cpg_r3d18_toy.py
mkdir -p "$WORK"

echo "== 1/5 toy dataset (data/toy)"
"$PY" tools/make_toy_dataset.py --out data/toy --overwrite
echo "== 2/5 hyperbolic embedding of the toy hierarchy"
"$PY" tools/embed_hierarchy.py data/toy/hierarchy.csv data/toy/label_map.txt \
  --dim 32 --out data/toy/embedding_d32.pth --plot "$WORK/toy_hierarchy.png"
echo "== 3/5 train ($CONFIG)"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK/train"
CKPT=$(cat "$WORK/train/last_checkpoint")
echo "== 4/5 test $CKPT"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
  --dump "$WORK/test/predictions.pkl"
echo "== 5/5 explain one validation video"
VIDEO=data/toy/videos/$(head -n 1 data/toy/val_list.txt | cut -d' ' -f1)
"$PY" tools/explain.py "$CONFIG" "$CKPT" "$VIDEO" --out "$WORK/explain" \
  --faithfulness
echo "done: metrics in $WORK/test/metrics.json, report in $WORK/explain/"
