#!/usr/bin/env bash
# Run the whole test suite. pytest's exit 5 (no tests collected) is a failure, not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Headless Chromium renders the HTML reports in tests/unit/test_reports.py (they skip without it):
# installed only when missing, as root, with apt-get available.
if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  { apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "run_tests: could not install chromium; the report rendering tests will skip" >&2
fi
.venv/bin/python -m pytest -q tests "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "run_tests: pytest collected no tests - failing" >&2
  exit 1
fi
exit $rc
