#!/usr/bin/env bash
# The official baseline's accuracy-vs-SNR curve on a large synthetic file, within a wall-clock budget.
#
# A CPU trains VGG10 on a few hundred thousand frame-passes in an hour; the real baseline saw ~46 million
# (20 epochs of 2.3 M frames). This script is the GPU counterpart of the README's CPU curve command: it writes
# a synthetic file with FRAMES_PER_BLOCK frames per (class, SNR) block using every core, trains the
# vgg10_baseline recipe (sandbox schedule: cosine warm restarts every 5 epochs) until the budget is nearly
# spent, then evaluates the best epoch on the official-procedure test split (metrics.json, plots/).
#
#   research/gpu_baseline_curve.sh FRAMES_PER_BLOCK TOTAL_SECONDS [RUN_DIR]     (from the repository root)
#
# TOTAL_SECONDS bounds the whole script: training is stopped (after its last complete epoch, whose
# checkpoint is already on disk) so that EVAL_RESERVE_S seconds remain for the evaluation, and the run is
# closed at that epoch. Stopping between restarts is harmless: evaluation takes checkpoints/best.pt, the
# epoch with the best validation accuracy.
#
# DATA_ONLY=1 stops once the file is written (model.synth prints its frame count and seconds): on a machine
# lent for a few minutes per call, write the data in one call and train in the next (the file stays in data/).
set -euo pipefail

K=${1:?frames per (class, SNR) block, e.g. 2048}
TOTAL_S=${2:?wall-clock budget of the whole script in seconds}
RUN=${3:-runs/vgg10_baseline_synth$K}
EVAL_RESERVE_S=${EVAL_RESERVE_S:-75}
WORKERS=${WORKERS:-$(nproc)}
RECIPE=model/recipes/vgg10_baseline.yaml
DATA=data/synthetic-$K.h5
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }

if [[ ! -f $DATA ]]; then
    # Time 256 frames on one core first: a file too large for the budget is refused before it is started.
    GEN_S=$(python - "$K" "$WORKERS" <<'PY'
import sys, time
import numpy as np
from model.radioml import N_BLOCKS
from model.synth import generate_frames
k, workers = int(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
generate_frames("16QAM", 10.0, 256, np.random.default_rng(0))
per_frame = (time.perf_counter() - t) / 256
print(int(1.5 * per_frame * N_BLOCKS * k / workers) + 1)  # 1.5: slower classes, transfer, HDF5 writes
PY
)
    echo "[curve] writing $DATA with $WORKERS workers: about $GEN_S s expected"
    if (( GEN_S > TOTAL_S / 2 )); then
        echo "[curve] that is over half the budget of $TOTAL_S s; pass fewer frames per block" >&2
        exit 2
    fi
    python -m model.synth --out "$DATA" --frames-per-block "$K" --workers "$WORKERS" --no-progress
fi
echo "[curve] data ready after $(elapsed) s: $DATA"
if [[ ${DATA_ONLY:-0} == 1 ]]; then
    exit 0
fi

SET=(--set "data.path=$DATA" --set "data.synthetic_frames_per_block=$K")
TRAIN_S=$(( TOTAL_S - $(elapsed) - EVAL_RESERVE_S ))
if (( TRAIN_S < 60 )); then
    echo "[curve] only $TRAIN_S s left for training; give a larger TOTAL_SECONDS" >&2
    exit 2
fi
echo "[curve] training for at most $TRAIN_S s"
status=0
timeout --signal=INT --kill-after=20 "$TRAIN_S" python -m model.pipeline "$RECIPE" --run "$RUN" "${SET[@]}" \
    --to train || status=$?
if (( status != 0 && status != 124 )); then
    echo "[curve] training failed (exit $status)" >&2
    exit "$status"
fi
if (( status == 124 )); then
    # Close the run at its last finished epoch: with train.epochs set to it, the train step returns at once
    # (writing history.json) and the run folder's recipe says how long the network really trained.
    DONE=$(python -c "import sys; from model.train import load_checkpoint; print(load_checkpoint(sys.argv[1])['epoch'])" \
        "$RUN/checkpoints/last.pt")
    echo "[curve] training stopped by the budget after $(elapsed) s, $DONE epoch(s) finished"
    SET+=(--set "train.epochs=$DONE")
fi
python -m model.pipeline "$RECIPE" --run "$RUN" "${SET[@]}" --from train --to evaluate
echo "[curve] done after $(elapsed) s: $RUN/metrics.json, $RUN/plots/"
