#!/usr/bin/env bash
# MMT stage I: train the source model twice, with seeds 1 and 2; the two
# checkpoints initialise MMT's two networks (stage II).
#
#   tools/mmt_pretrain.sh CONFIG WORK_DIR [train.py options ...]
#
# writes WORK_DIR/seed1 and WORK_DIR/seed2. Extra options go to both runs,
# e.g. --resume. Set PYTHON to choose the interpreter (default: python).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG WORK_DIR [train.py options ...]" >&2
    exit 2
fi
CONFIG=$1
WORK_DIR=$2
shift 2
PYTHON=${PYTHON:-python}
for SEED in 1 2; do
    echo "=== MMT stage I, seed ${SEED}: ${WORK_DIR}/seed${SEED} ==="
    "${PYTHON}" "$(dirname "$0")/train.py" "${CONFIG}" \
        --work-dir "${WORK_DIR}/seed${SEED}" "$@" \
        --cfg-options randomness.seed="${SEED}"
done
