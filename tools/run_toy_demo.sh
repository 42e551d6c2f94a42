#!/usr/bin/env bash
# The main job on the embedded toy dataset, end to end on the CPU: generate
# the data (train, val and a held-out test split), embed its hierarchy,
# pre-train the backbone (the paper starts from Kinetics-400 weights; here
# the 3D-ResNet baseline trained on the toy data stands in for them), train
# the CPG model and the ProtoPNet-3D baseline from that backbone (two
# prototype projections each), and measure on the test split: accuracy of
# the three models, the abstaining prediction's sweep, the quality of both
# prototype models' explanations (consistency, stability, duplicates), one
# explained video, the deletion test, the pointing test and where the clips
# lie in the Poincare ball. The clips made ambiguous between two siblings go
# through the abstaining prediction. Every figure of the README's toy
# section comes from this job.
# Run tools/setup_env.sh first (the README's first command does).
#
#   bash tools/run_toy_demo.sh            # outputs under work_dirs/toy_demo
#
# Environment: PY (default .venv/bin/python), WORK (default
# work_dirs/toy_demo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-work_dirs/toy_demo}
CONFIG=configs/toy/hproto_cpg_r3d18_toy.py
BASELINE=configs/toy/i3d_r3d18_toy.py
PROTOPNET=configs/toy/protopnet_r3d18_toy.py
TEST_LIST=data/toy/test_list.txt
mkdir -p "$WORK"
START=$SECONDS
step() { echo "== $1/12 $2 (at $((SECONDS - START)) s)"; }

step 1 "toy dataset (data/toy)"
"$PY" tools/make_toy_dataset.py --out data/toy --overwrite
step 2 "hyperbolic embedding of the toy hierarchy"
"$PY" tools/embed_hierarchy.py data/toy/hierarchy.csv data/toy/label_map.txt \
  --dim 32 --out data/toy/embedding_d32.pth --plot "$WORK/toy_hierarchy.png"
step 3 "pre-train the backbone: the 3D-ResNet baseline ($BASELINE)"
"$PY" tools/train.py "$BASELINE" --work-dir "$WORK/backbone" --no-validate
BACKBONE=$(cat "$WORK/backbone/last_checkpoint")
step 4 "train $CONFIG and $PROTOPNET from $BACKBONE, side by side"
# One thread each: two processes on two cores finish sooner than one after
# the other on two threads, and the figures do not depend on the number of
# cores.
train_prototypes() {  # config, work dir
  OMP_NUM_THREADS=1 "$PY" tools/train.py "$1" --work-dir "$2" --no-validate \
    --cfg-options load_from="$BACKBONE" > "$2.log" 2>&1
}
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT
train_prototypes "$CONFIG" "$WORK/train" &
CPG_PID=$!
train_prototypes "$PROTOPNET" "$WORK/protopnet" &
PROTOPNET_PID=$!
finish() {  # pid, name
  if ! wait "$1"; then
    tail -n 30 "$WORK/$2.log"
    echo "training failed: see $WORK/$2.log" >&2
    exit 1
  fi
}
finish "$CPG_PID" train
finish "$PROTOPNET_PID" protopnet
trap - EXIT
CKPT=$(cat "$WORK/train/last_checkpoint")
PROTOPNET_CKPT=$(cat "$WORK/protopnet/last_checkpoint")
echo "training logs: $WORK/train.log, $WORK/protopnet.log"
step 5 "test the three models on the test split"
"$PY" tools/test.py "$BASELINE" "$BACKBONE" --work-dir "$WORK/test_baseline"
"$PY" tools/test.py "$PROTOPNET" "$PROTOPNET_CKPT" \
  --work-dir "$WORK/test_protopnet"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" \
  --dump "$WORK/test/predictions.pkl"
step 6 "abstaining prediction swept over confidence thresholds"
"$PY" tools/analyze_results.py "$WORK/test/predictions.pkl" \
  --hierarchy data/toy/hierarchy.csv --label-map data/toy/label_map.txt \
  --abstain-sweep "$WORK/test/abstain_sweep.png"
step 7 "consistency, stability and duplicates of both prototype models"
"$PY" tools/explain_quality.py "$CONFIG" "$CKPT" --split-list "$TEST_LIST" \
  --out "$WORK/quality"
"$PY" tools/explain_quality.py "$PROTOPNET" "$PROTOPNET_CKPT" \
  --split-list "$TEST_LIST" --out "$WORK/quality_protopnet"
step 8 "explain one test video"
VIDEO=data/toy/videos/$(head -n 1 "$TEST_LIST" | cut -d' ' -f1)
"$PY" tools/explain.py "$CONFIG" "$CKPT" "$VIDEO" --out "$WORK/explain" \
  --faithfulness --quality "$WORK/quality/quality.json"
step 9 "deletion test and abstaining prediction over the test split"
"$PY" tools/explain.py "$CONFIG" "$CKPT" --split-list "$TEST_LIST" \
  --faithfulness --min-confidence 0.7 --out "$WORK/faithfulness"
step 10 "abstaining prediction on the ambiguous clips"
for t in 0.5 0.7; do
  "$PY" tools/explain.py "$CONFIG" "$CKPT" \
    --split-list data/toy/ambiguous_list.txt --min-confidence "$t" \
    --out "$WORK/ambiguous_$t"
done
step 11 "pointing test over the test split"
"$PY" tools/toy_pointing.py "$CONFIG" "$CKPT" --split-list "$TEST_LIST" \
  --out "$WORK/pointing"
step 12 "the clips' points in the Poincare ball"
"$PY" tools/embedding_shell.py "$CONFIG" "$CKPT" --split-list "$TEST_LIST" \
  --out "$WORK/embedding_shell"
echo "done in $((SECONDS - START)) s: metrics in $WORK/test*/metrics.json,"
echo "      report in $WORK/explain/, split summaries in $WORK/quality*/,"
echo "      $WORK/faithfulness/, $WORK/ambiguous_*/, $WORK/pointing/ and"
echo "      $WORK/embedding_shell/"
