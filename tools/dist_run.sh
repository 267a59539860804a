#!/usr/bin/env bash
# Usage: tools/dist_run.sh SCRIPT CONFIG NUM_GPUS [script args...]
# Runs tools/SCRIPT.py on NUM_GPUS processes per node through torchrun (mmengine's
# distributed runner). Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT.
set -euo pipefail
SCRIPT=$1
CONFIG=$2
GPUS=$3
shift 3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec torchrun --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${MASTER_PORT:-29500}" --nproc_per_node="$GPUS" \
    "$ROOT/tools/$SCRIPT.py" "$CONFIG" --launcher pytorch "$@"
