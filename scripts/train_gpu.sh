#!/usr/bin/env bash
# Fine-tune on GPU(s) through Lightning: one GPU, every GPU of one node (DDP), or several nodes.
#
#   scripts/train_gpu.sh                                   # configs/gpu.yaml, all visible GPUs
#   GPUS=1 scripts/train_gpu.sh configs/gpu.yaml           # exactly one GPU
#   GPUS=4 scripts/train_gpu.sh configs/gpu.yaml --set train.lr=3e-5
#   scripts/train_gpu.sh configs/gpu.yaml --resume runs/<run-id>   # continue after a crash
#
# One node: Lightning starts one process per GPU itself (DDP); all ranks share one run dir.
# Several nodes (SLURM): submit this script with sbatch; Lightning reads the SLURM variables,
# srun starts one task per GPU, and every task must name the same run dir (RUN_NAME):
#
#   #SBATCH --nodes=2 --gpus-per-node=8 --ntasks-per-node=8 --cpus-per-task=8
#   NODES=2 GPUS=8 RUN_NAME=tweeteval-2x8 srun scripts/train_gpu.sh configs/gpu.yaml
#
# Several nodes without SLURM (torchrun on every node; Lightning picks up its env variables):
#
#   torchrun --nnodes=2 --nproc-per-node=8 --node-rank=$NODE_RANK \
#     --rdzv-backend=c10d --rdzv-endpoint=$MASTER_HOST:29500 \
#     "$(command -v mlops-dl)" train --config configs/gpu.yaml \
#     --set train.num_nodes=2 --set train.devices=8 --set train.strategy=ddp \
#     --set train.run_name=tweeteval-2x8
#
# (torchrun runs a Python file: the mlops-dl entry point script is one.)
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG="${1:-configs/gpu.yaml}"
[[ $# -gt 0 ]] && shift
GPUS="${GPUS:-auto}"
NODES="${NODES:-1}"
PRECISION="${PRECISION:-bf16-mixed}"   # 16-mixed for GPUs without bf16 (before Ampere)
MLOPS_DL="${MLOPS_DL:-.venv/bin/mlops-dl}"
command -v "$MLOPS_DL" >/dev/null 2>&1 || MLOPS_DL=mlops-dl

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
else
  echo "train_gpu: nvidia-smi not found; is this a GPU machine?" >&2
fi

STRATEGY=auto
if [[ "$NODES" -gt 1 || ( "$GPUS" != "auto" && "$GPUS" != "1" ) ]]; then
  STRATEGY=ddp
fi

ARGS=(--config "$CONFIG"
      --set "train.accelerator=gpu" --set "train.devices=$GPUS"
      --set "train.num_nodes=$NODES" --set "train.strategy=$STRATEGY"
      --set "train.precision=$PRECISION")
if [[ -n "${RUN_NAME:-}" ]]; then
  ARGS+=(--set "train.run_name=$RUN_NAME")
fi

export TOKENIZERS_PARALLELISM=false
exec "$MLOPS_DL" train "${ARGS[@]}" "$@"
