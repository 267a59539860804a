#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]  (see tools/dist_run.sh)
exec "$(dirname "$0")/dist_run.sh" train "$@"
