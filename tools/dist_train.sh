#!/usr/bin/env bash
# Train on NPROC processes (one per GPU; CPU processes with gloo when there
# is no GPU) with torchrun:
#   tools/dist_train.sh CONFIG NPROC [tools/train.py options]
# Several nodes: run it on every node with the same NNODES, MASTER_ADDR and
# PORT, and NODE_RANK = 0 .. NNODES-1.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [tools/train.py options]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
exec bash "$HERE/dist_launch.sh" "$NPROC" "$HERE/train.py" "$CONFIG" \
    --launcher pytorch "$@"
