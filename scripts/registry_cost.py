"""Cost of a registration and of a cold/warm verified load, local folder vs S3 (SeaweedFS).

    python scripts/registry_cost.py [--mb 90 --int8-mb 23]

Starts its own SeaweedFS (tests/fixtures/seaweed.py), registers a bundle the size of
all-MiniLM-L6-v2's (fp32 + int8 ONNX + tokenizer), then times register, a cold load (empty reader
cache: download + sha256) and a warm load (cached files re-hashed), each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TIMED = """
import sys, time
from mlops_dl.registry import open_registry
t = time.perf_counter()
open_registry(sys.argv[1]).get("m:1", verify=True)
print(time.perf_counter() - t)
"""


def _load_s(root: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", TIMED, root], env=env, check=True,
                         capture_output=True, text=True, cwd=REPO)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=90)
    ap.add_argument("--int8-mb", type=int, default=23)
    args = ap.parse_args()
    from mlops_dl.registry import open_registry
    from tests.fixtures.seaweed import seaweed_server

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = tmp / "bundle"
        bundle.mkdir()
        (bundle / "model.onnx").write_bytes(os.urandom(args.mb << 20))
        (bundle / "model.int8.onnx").write_bytes(os.urandom(args.int8_mb << 20))
        (bundle / "tokenizer.json").write_bytes(os.urandom(700 << 10))
        (bundle / "model.json").write_text(json.dumps({"labels": ["a", "b"], "max_length": 8,
                                                       "variants": {"fp32": "model.onnx",
                                                                    "int8": "model.int8.onnx"}}))
        with seaweed_server(tmp / "weed") as s3env:
            env = {**os.environ, **{k: v for k, v in s3env.items() if k.startswith("AWS_")},
                   "PYTHONPATH": str(REPO), "MLOPS_DL_CACHE_DIR": str(tmp / "cache")}
            os.environ.update(env)
            figures = {}
            for label, root in (("local", str(tmp / "registry")), ("s3", "s3://models/cost")):
                t = time.perf_counter()
                open_registry(root).register("m", bundle)
                register_s = time.perf_counter() - t
                cold = _load_s(root, env)  # s3: empty cache; local: hash the version folder
                warm = _load_s(root, env)  # s3: cached files re-hashed; local: same as cold
                figures[label] = {"register_s": round(register_s, 3), "cold_load_s": round(cold, 3),
                                  "warm_load_s": round(warm, 3)}
    size = args.mb + args.int8_mb
    print(json.dumps({"bundle_mb": size, **figures,
                      "ratios_s3_over_local": {k: round(figures["s3"][k] / figures["local"][k], 2)
                                               for k in figures["s3"]}}, indent=2))


if __name__ == "__main__":
    main()
