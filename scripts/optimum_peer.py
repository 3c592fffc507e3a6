"""Optimum's ORTModelForSequenceClassification on a registered version, measured with the same
code and texts as `mlops-dl bench` (run by scripts/optimum_peer.sh inside .venv-optimum).

The registry holds ONNX + tokenizer only; Optimum also wants the HF config.json, which comes
from the run's model dir (lineage.json), as for the PyTorch baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mlops_dl.bench.run import OPTS, PEER_DIR, SHAPES, read_texts, token_counts, torch_model_dir
from mlops_dl.bench.engines import fixed_ids, measure
from mlops_dl.registry import open_registry
def optimum_engine(engine: dict):
    """(run, run_fixed, info) for ORTModelForSequenceClassification on the registry's file."""
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    src, model_dir = Path(engine["version_dir"]).resolve(), Path(engine["path"]).resolve()
    work = Path(tempfile.mkdtemp(prefix="optimum-peer-"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt"):
        if (model_dir / name).is_file():
            (work / name).symlink_to(model_dir / name)
    (work / "model.onnx").symlink_to(src / engine["onnx_file"])
    model = ORTModelForSequenceClassification.from_pretrained(work, file_name="model.onnx",
                                                              provider="CPUExecutionProvider")
    tok = AutoTokenizer.from_pretrained(work)

    def run(texts):
        enc = tok(texts, padding=True, truncation=True, max_length=engine["max_length"],
                  return_tensors="pt")
        with torch.no_grad():
            return torch.softmax(model(**enc).logits, dim=-1).numpy()  # (B, L)

    def run_fixed(b, t):
        ids = torch.from_numpy(fixed_ids(b, t, model.config.vocab_size))  # (B, T)
        mask, types = torch.ones_like(ids), torch.zeros_like(ids)
        return lambda: model(input_ids=ids, attention_mask=mask, token_type_ids=types)

    import onnxruntime

    return run, run_fixed, {"provider": "optimum-ort-cpu", "onnx_file": engine["onnx_file"],
                            "onnxruntime": onnxruntime.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("ref")
    ap.add_argument("--registry", default=None)
    ap.add_argument("--variant", default="int8", choices=["int8", "fp32"])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--labels", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=2000)
    args = ap.parse_args(argv)
    mv = open_registry(args.registry).get(args.ref, verify=True)
    model_dir, why = torch_model_dir(mv)
    if model_dir is None:
        print(f"optimum peer: {why}", file=sys.stderr)
        return 2
    texts, gold, _ = read_texts(args.data, args.labels, mv.meta["labels"], args.limit)
    engine = {"label": f"optimum-ort-{args.variant}", "version_dir": str(mv.path),
              "path": str(model_dir), "onnx_file": mv.meta["variants"][args.variant],
              "max_length": int(mv.meta["max_length"])}
    result = measure(engine, texts, gold, SHAPES, {**OPTS, "tune_n": 0}, factory=optimum_engine,
                     tokens=token_counts(mv, texts))  # stream_tokens: the bench's own plan
    from importlib.metadata import version

    result["versions"] = {p: version(p) for p in ("optimum", "optimum-onnx", "transformers",
                                                   "torch", "onnxruntime")}
    out = PEER_DIR / f"optimum-{mv.name}-{mv.version}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {out}: batch-1 p50 {result['batch1']['p50_ms']:.2f} ms, stream "
          f"{result['stream']['sent_per_s']:.1f} sent/s, macro-F1 {result.get('macro_f1', np.nan):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
