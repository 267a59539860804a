#!/usr/bin/env bash
# Usage: tools/dist_run.sh SCRIPT CONFIG NUM_PROCESSES [script args...]
# Runs tools/SCRIPT.py on NUM_PROCESSES processes per node (one per GPU; on a CPU-only machine
# the processes share the CPUs and talk over gloo) through torch.distributed.run (torchrun).
# Python: $PYTHON if set, else the project's .venv (no need to activate it), else python3.
# One node: torchrun --standalone, whose rendezvous store binds a free port itself (no port to
# choose, no race with other jobs); set MASTER_PORT (and MASTER_ADDR) to use a fixed one.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT.
# TORCHRUN_ARGS: extra torchrun options, e.g. "--tee 3 --log-dir logs" (one log per rank).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 SCRIPT CONFIG NUM_PROCESSES [args...]" >&2
    exit 2
fi
SCRIPT=$1
CONFIG=$2
GPUS=$3
shift 3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${PYTHON:-}" ]; then
    PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY="$ROOT/.venv/bin/python"
else
    PY="$(command -v python3 || command -v python)"
fi
if [ "${NNODES:-1}" = 1 ] && [ -z "${MASTER_PORT:-}" ]; then
    RENDEZVOUS=(--standalone)
else
    RENDEZVOUS=(--nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}"
                --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}")
fi
# shellcheck disable=SC2206  # TORCHRUN_ARGS is a list of options: split it on spaces
set -f  # no file-name expansion of the options
EXTRA=(${TORCHRUN_ARGS:-})
set +f
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PY" -m torch.distributed.run "${RENDEZVOUS[@]}" \
    "${EXTRA[@]}" --nproc_per_node="$GPUS" "$ROOT/tools/$SCRIPT.py" "$CONFIG" \
    --launcher pytorch "$@"
