#!/usr/bin/env bash
# The main job on the embedded toy dataset, end to end on the CPU:
# generate the data, embed its hierarchy, pre-train the backbone (the paper
# starts from Kinetics-400 weights; here a short 3D-ResNet run on the toy
# data stands in for them), train the CPG model from that backbone (two
# prototype projections), test it at clip and video level, explain one
# validation video, run the deletion test over the validation split and the
# abstaining prediction on the clips made ambiguous between two siblings,
# and the pointing test (do the prototypes peak on the moving object?).
# Run tools/setup_env.sh first (the README's first command does).
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

echo "== 1/9 toy dataset (data/toy)"
"$PY" tools/make_toy_dataset.py --out data/toy --overwrite
echo "== 2/9 hyperbolic embedding of the toy hierarchy"
"$PY" tools/embed_hierarchy.py data/toy/hierarchy.csv data/toy/label_map.txt \
  --dim 32 --out data/toy/embedding_d32.pth --plot "$WORK/toy_hierarchy.png"
echo "== 3/9 pre-train the backbone (configs/toy/i3d_r3d18_toy.py)"
"$PY" tools/train.py configs/toy/i3d_r3d18_toy.py --work-dir "$WORK/backbone" \
  --no-validate
BACKBONE=$(cat "$WORK/backbone/last_checkpoint")
echo "== 4/9 train ($CONFIG) from $BACKBONE"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK/train" \
  --cfg-options load_from="$BACKBONE"
CKPT=$(cat "$WORK/train/last_checkpoint")
echo "== 5/9 test $CKPT"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
  --dump "$WORK/test/predictions.pkl"
echo "== 6/9 explain one validation video"
VIDEO=data/toy/videos/$(head -n 1 data/toy/val_list.txt | cut -d' ' -f1)
"$PY" tools/explain.py "$CONFIG" "$CKPT" "$VIDEO" --out "$WORK/explain" \
  --faithfulness
echo "== 7/9 deletion test and abstaining prediction over the validation split"
"$PY" tools/explain.py "$CONFIG" "$CKPT" --split-list data/toy/val_list.txt \
  --faithfulness --min-confidence 0.7 --out "$WORK/faithfulness"
echo "== 8/9 abstaining prediction on the ambiguous clips"
for t in 0.5 0.7; do
  "$PY" tools/explain.py "$CONFIG" "$CKPT" \
    --split-list data/toy/ambiguous_list.txt --min-confidence "$t" \
    --out "$WORK/ambiguous_$t"
done
echo "== 9/9 pointing test over the validation split"
"$PY" tools/toy_pointing.py "$CONFIG" "$CKPT" --out "$WORK/pointing"
echo "done: metrics in $WORK/test/metrics.json, report in $WORK/explain/,"
echo "      split summaries in $WORK/faithfulness/, $WORK/ambiguous_*/ and"
echo "      $WORK/pointing/"
