#!/usr/bin/env bash
# torchrun for tools/dist_train.sh and tools/dist_test.sh:
#   tools/dist_launch.sh NPROC SCRIPT [script arguments]
# Honours NNODES, NODE_RANK, MASTER_ADDR, PORT and PYTHON (see
# docs/distributed.md). With one node and no PORT, a free port is picked.
set -euo pipefail
NPROC=$1
shift
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
    "$@"
