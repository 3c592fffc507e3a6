#!/usr/bin/env bash
# Create .venv and install mlops-dl with the given extras (default: train,demo,dev,openvino).
# Idempotent: skips the install when pyproject.toml and the extras are unchanged.
# torch is pinned to 2.13.0 (the CPU build on these machines) inside the same pip call as the
# model packages, so pip never resolves a newer multi-GB CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train,demo,dev,openvino}"
venv="${VENV:-.venv}"
py="${PYTHON:-python3}"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
stamp="$venv/.mlops-dl-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $extras"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
"$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
"$venv/bin/python" -m pip install -q -e ".[$extras]"
if [[ ",$extras," == *",dev,"* ]]; then
  # Test tools whose own pins fight ours, without their deps (the dev extra lists the deps
  # they need): mlflow 3.17 (the server the MLflow tests start) pins pyarrow<26; skypilot
  # (its task parser in the launch tests) pins click<8.2 and uvicorn<0.36, which serving uses.
  "$venv/bin/python" -m pip install -q --no-deps "mlflow==3.17.2" "skypilot==0.14.1"
fi
echo "$want" > "$stamp"
