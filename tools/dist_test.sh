#!/usr/bin/env bash
# Test a checkpoint on NPROC processes (one per GPU; CPU processes with gloo
# when there is no GPU) with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py options]
# Several nodes: as tools/dist_train.sh.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NPROC [tools/test.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
exec bash "$HERE/dist_launch.sh" "$NPROC" "$HERE/test.py" "$CONFIG" \
    "$CHECKPOINT" --launcher pytorch "$@"
