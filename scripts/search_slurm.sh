#!/usr/bin/env bash
#SBATCH --job-name=mlops-dl-search
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=logs/search-%A_%a.out
#
# A search on a SLURM cluster: an array of workers, each task one GPU worker on the same
# PostgreSQL study, then one dependent job that finishes the study (report, best_config.yaml,
# winner retrained and evaluated). Run it from a login node; it submits both jobs:
#
#   STORAGE=postgresql://user@dbhost:5432/optuna TASKS=8 \
#     scripts/search_slurm.sh configs/tweeteval-search.yaml --trials 48 --study tweeteval-v2
#
# Env: STORAGE (required: an Optuna RDB URL every node reaches; put the password in ~/.pgpass,
#      not in the URL), TASKS (array size, default 4), MLOPS_DL (default: mlops-dl on PATH),
#      SBATCH_EXTRA (more sbatch options, e.g. "--partition=gpu --account=ml").
# Needs a shared filesystem for the repo, the prepared data (data prepare once, beforehand) and
# train.runs_dir (the winner run is written by the finishing job). Trial run dirs stay local to
# each task and are deleted when the trial ends. Each task stops when the study holds --trials
# finished trials; a task killed by SLURM leaves a RUNNING trial that the others mark FAIL
# after 2 x search.heartbeat_s and run again. Watch it: optuna-dashboard "$STORAGE".
set -euo pipefail

if [[ $# -lt 1 || "$1" == -* ]]; then
  sed -n '9,24p' "$0" >&2
  exit 2
fi
CONFIG=$1
shift
MLOPS_DL=${MLOPS_DL:-mlops-dl}
: "${STORAGE:?set STORAGE to the PostgreSQL URL shared by every task}"

if [[ -z "${SLURM_JOB_ID:-}" ]]; then
  # 1. on the login node: submit the worker array, then the finishing job after it
  mkdir -p logs
  TASKS=${TASKS:-4}
  # shellcheck disable=SC2086
  array=$(sbatch --parsable --array=0-$((TASKS - 1)) ${SBATCH_EXTRA:-} "$0" "$CONFIG" "$@")
  # shellcheck disable=SC2086
  finish=$(sbatch --parsable --dependency=afterany:"$array" --export=ALL,SEARCH_FINISH=1 \
    ${SBATCH_EXTRA:-} "$0" "$CONFIG" "$@")
  echo "submitted workers $array (array of $TASKS) and finishing job $finish"
  exit 0
fi

if [[ -n "${SEARCH_FINISH:-}" ]]; then
  # 3. after the array: no new trial starts (the study is complete); report + winner
  exec "$MLOPS_DL" search --config "$CONFIG" --storage "$STORAGE" \
    --set train.accelerator=gpu --set train.devices=1 "$@"
fi

# 2. an array task: one worker on the shared study, its own sampler seed
task=${SLURM_ARRAY_TASK_ID:-0}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-8}
exec "$MLOPS_DL" search --config "$CONFIG" --storage "$STORAGE" --worker-only \
  --set train.accelerator=gpu --set train.devices=1 --set "search.seed=$((42 + 100 * task))" \
  "$@"
