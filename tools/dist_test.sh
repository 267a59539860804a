#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG NUM_PROCESSES [test.py args...]  (see tools/dist_run.sh)
exec "$(dirname "$0")/dist_run.sh" test "$@"
