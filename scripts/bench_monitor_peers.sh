#!/usr/bin/env bash
# NannyML and Evidently on the streams of `mlops-dl bench-monitor REF --streams DIR`, beside ours.
# Both tools pin libraries the project's venv must not take (Evidently 0.7 needs pandas < 3), so
# they live in their own git-ignored venv (.venv-peers, or $PEERS_VENV) and never touch .venv.
#   mlops-dl bench-monitor sentiment@production --chunk 100 --streams artifacts/bench-monitor
#   scripts/bench_monitor_peers.sh artifacts/bench-monitor [--seeds 3]
# Writes DIR/peers.json and prints ours and theirs as one Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PEERS_VENV:-.venv-peers}"
py="${PYTHON:-python3}"
want="nannyml==0.13.1 evidently==0.7.23 pandas<3"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
stamp="$venv/.monitor-peers-installed"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q $want
  echo "$want" > "$stamp"
fi
# no usage telemetry (NannyML posts to segment.io unless told not to)
export NML_DISABLE_USAGE_LOGGING=1 DO_NOT_TRACK=1
"$venv/bin/python" scripts/bench_monitor_peers.py "$@"
