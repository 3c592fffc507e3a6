#!/usr/bin/env bash
# The main job on the packaged model and data (configs/quickstart.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
cfg="${CONFIG:-configs/quickstart.yaml}"
.venv/bin/mlops-dl pipeline --config "$cfg"
