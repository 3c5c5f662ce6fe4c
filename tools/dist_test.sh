#!/usr/bin/env bash
# Test a checkpoint on NPROC processes (one per GPU; CPU processes with gloo
# when there is no GPU) with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py options]
# Several nodes: run it on every node with the same NNODES, MASTER_ADDR and
# PORT, and NODE_RANK = 0 .. NNODES-1.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NPROC [tools/test.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
if [ -z "${PORT:-}" ]; then
    if [ "$NNODES" -gt 1 ]; then
        # every node must use the same port: do not pick one at random
        PORT=29500
    else
        PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
    fi
fi
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
