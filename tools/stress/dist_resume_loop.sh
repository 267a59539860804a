#!/usr/bin/env bash
# Usage: tools/stress/dist_resume_loop.sh [ITERATIONS=50] [HOGS=2] [OUT_DIR]
# Stress test of issue #33: resumes a 2-process CPU (gloo) training ITERATIONS times while HOGS
# busy-looping processes compete for the CPUs, and prints the pass/fail counts.
# Once: tools/dist_train.sh configs/tiny/seg_tiny_adapted.py 2 to iteration 2. Then each
# iteration copies that work dir and resumes it to iteration 4 (tools/dist_train.sh --resume),
# exactly as tests/tools/test_distributed_cpu.py does. An iteration passes when the launch exits
# 0 and last_checkpoint names iter_4.pth. A failing iteration keeps its folder under OUT_DIR with
# its log (ranks prefixed, Python stacks of an aborting rank: PYTHONFAULTHANDLER) and core dumps
# (ulimit -c unlimited; read one with gdb -batch -ex 'thread apply all bt' PYTHON core).
# Python: $PYTHON, else the project's .venv, else python3. Per-launch limit: $LAUNCH_TIMEOUT s.
set -uo pipefail
ITERATIONS=${1:-50}
HOGS=${2:-2}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT=${3:-$(mktemp -d "${TMPDIR:-/tmp}/dist_resume_loop.XXXXXX")}
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON PYTHONFAULTHANDLER=1 OMP_NUM_THREADS=1 CUDA_VISIBLE_DEVICES=''
export TORCHRUN_ARGS="--tee 3 --log-line-prefix-template [rank\${rank}]:"
unset RANK WORLD_SIZE LOCAL_RANK MASTER_PORT MASTER_ADDR
CONFIG="$ROOT/configs/tiny/seg_tiny_adapted.py"
OPTIONS=(train_cfg.val_interval=100 default_hooks.checkpoint.interval=2 param_scheduler.0.end=4
         train_dataloader.batch_size=2 env_cfg.dist_cfg.timeout=300)
ulimit -c unlimited 2>/dev/null || true
mkdir -p "$OUT"

HOG_PIDS=()
stop_hogs() { for pid in "${HOG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done; }
trap stop_hogs EXIT
for _ in $(seq 1 "$HOGS"); do
    "$PYTHON" -c 'while True: pass' &
    HOG_PIDS+=($!)
done

launch() {  # launch WORK_DIR LOG [train.py args...]: one tools/dist_train.sh run in WORK_DIR/..
    local work=$1 log=$2
    shift 2
    (cd "$(dirname "$work")" && timeout -k 30 "${LAUNCH_TIMEOUT:-900}" \
        "$ROOT/tools/dist_train.sh" "$CONFIG" 2 --work-dir "$work" "$@") >"$log" 2>&1
}

BASE="$OUT/base"
mkdir -p "$BASE"
if ! launch "$BASE/train" "$BASE/log" --cfg-options train_cfg.max_iters=2 "${OPTIONS[@]}"; then
    echo "the first training (to iteration 2) failed: see $BASE/log"
    exit 2
fi
passed=0
failed=0
started=$(date +%s)
for i in $(seq 1 "$ITERATIONS"); do
    run="$OUT/run$i"
    rm -rf "$run"
    mkdir -p "$run"
    cp -r "$BASE/train" "$run/train"
    printf '%s' "$run/train/iter_2.pth" > "$run/train/last_checkpoint"
    launch "$run/train" "$run/log" --resume --cfg-options train_cfg.max_iters=4 "${OPTIONS[@]}"
    status=$?
    if [ $status = 0 ] && grep -q 'iter_4.pth$' "$run/train/last_checkpoint"; then
        passed=$((passed + 1))
        rm -rf "$run"
        verdict=pass
    else
        failed=$((failed + 1))
        verdict="FAIL (exit status $status; log, cores: $run)"
    fi
    echo "iteration $i/$ITERATIONS: $verdict; passed=$passed failed=$failed" \
         "($(( $(date +%s) - started )) s)"
done
echo "RESULT passed=$passed failed=$failed of $ITERATIONS resumes under $HOGS CPU hogs ($OUT)"
[ $failed = 0 ]
