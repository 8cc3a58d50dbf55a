#!/usr/bin/env bash
# Distributed training through torchrun and mmengine's launcher (gloo on CPU, nccl on GPU).
# Usage: bash tools/dist_train.sh <config> <num_processes> [train.py arguments...]
set -euo pipefail
CONFIG=$1
NPROC=$2
PORT=${PORT:-29500}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
