#!/usr/bin/env bash
# One search worker per GPU on this machine, all on one study; then the study is finished once
# (report, best_config.yaml, winner retrained and evaluated on GPU 0).
#
#   scripts/search_workers.sh CONFIG [mlops-dl search options...]
#   scripts/search_workers.sh configs/tweeteval-search.yaml --trials 24
#   scripts/search_workers.sh configs/tweeteval-search.yaml --storage postgresql://user@db/optuna
#
# Env: GPUS="0 1 2 3" (default: every GPU nvidia-smi lists; none -> one CPU worker),
#      MLOPS_DL=path/to/mlops-dl (default: mlops-dl on PATH), LOG_DIR (default: logs).
# Without --storage the workers share the study's SQLite file (fine on a local disk); use
# PostgreSQL to add workers on other machines (scripts/search_slurm.sh, or this script run on
# each machine with the same --storage and --study).
set -euo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
CONFIG=$1
shift
MLOPS_DL=${MLOPS_DL:-mlops-dl}
LOG_DIR=${LOG_DIR:-logs}
if [[ -z "${GPUS:-}" ]] && command -v nvidia-smi >/dev/null 2>&1; then
  GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader | tr '\n' ' ')
fi
mkdir -p "$LOG_DIR"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup INT TERM

GPUS=${GPUS:-}
if [[ -z "${GPUS// /}" ]]; then
  echo "search_workers: no GPU found; running one CPU worker" >&2
  CUDA_VISIBLE_DEVICES="" "$MLOPS_DL" search --config "$CONFIG" --worker-only \
    --set train.accelerator=cpu "$@" >"$LOG_DIR/search-worker-cpu.log" 2>&1 &
  pids+=($!)
  FINISH_ENV=(CUDA_VISIBLE_DEVICES="")
  FINISH_SET=(--set train.accelerator=cpu)
else
  i=0
  for gpu in $GPUS; do
    # each worker sees one GPU; distinct sampler seeds so random start-up trials differ
    CUDA_VISIBLE_DEVICES=$gpu "$MLOPS_DL" search --config "$CONFIG" --worker-only \
      --set train.accelerator=gpu --set train.devices=1 --set "search.seed=$((42 + 100 * i))" \
      "$@" >"$LOG_DIR/search-worker-gpu$gpu.log" 2>&1 &
    pids+=($!)
    echo "search_workers: worker $i on GPU $gpu (pid ${pids[-1]}, log $LOG_DIR/search-worker-gpu$gpu.log)"
    i=$((i + 1))
  done
  first=${GPUS%% *}
  FINISH_ENV=(CUDA_VISIBLE_DEVICES="$first")
  FINISH_SET=(--set train.accelerator=gpu --set train.devices=1)
fi

failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
if [[ $failed -ne 0 ]]; then
  echo "search_workers: a worker failed; see $LOG_DIR/search-worker-*.log" >&2
  exit 1
fi
# The study is complete: this run starts no trial, it reports and retrains the winner.
env "${FINISH_ENV[@]}" "$MLOPS_DL" search --config "$CONFIG" "${FINISH_SET[@]}" "$@"
