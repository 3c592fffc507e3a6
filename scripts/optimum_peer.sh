#!/usr/bin/env bash
# Measure Hugging Face Optimum's ORTModelForSequenceClassification as a peer of our runner, on
# the same registered ONNX file and the same texts. Optimum pins transformers < 4.58, so it
# lives in its own git-ignored venv (.venv-optimum) and never touches .venv.
#   scripts/optimum_peer.sh sentiment:1 [--registry DIR] [--variant int8] [--data FILE] [--limit N]
# Writes artifacts/bench/optimum-<name>-<version>.json; `mlops-dl bench` shows it beside ours.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${OPTIMUM_VENV:-.venv-optimum}"
py="${PYTHON:-python3}"
# torch is pinned to the local CPU build so pip never resolves a multi-GB CUDA build
want="optimum-onnx[onnxruntime]==0.1.0 torch==2.13.0 filelock pyyaml pyarrow"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
stamp="$venv/.optimum-peer-installed"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q $want
  echo "$want" > "$stamp"
fi
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" scripts/optimum_peer.py "$@"
