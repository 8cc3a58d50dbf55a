#!/usr/bin/env bash
# Distributed testing through torchrun and mmengine's launcher (gloo on CPU, nccl on GPU).
# Usage: bash tools/dist_test.sh <config> <checkpoint> <num_processes> [test.py arguments...]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "Usage: bash $0 CONFIG CHECKPOINT GPUS [test.py arguments...]" >&2
    echo "  env: PORT (29500), NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PYTHON" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
PORT=${PORT:-29500}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
