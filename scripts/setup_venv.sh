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
echo "$want" > "$stamp"
