"""A registry, log, canvas, run and study for the UI tests, built from the tiny model in seconds.

tiny:1 is the session's exported tiny model (fp32 + int8, accepted, promoted); tiny:2 is an
fp32-only copy whose classifier leans to "neutral"; tiny:3 an fp32 + int8 copy leaning to
"positive" (promoted after tiny:1). The copies are re-scored with the Predictor, so their stored
validation predictions, metrics and export checks are their own.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from mlops_dl.data.prepared import load_prepared
from mlops_dl.gates.accept import accept
from mlops_dl.gates.canvas import load_canvas
from mlops_dl.gates.promote import promote
from mlops_dl.metrics import classification_report
from mlops_dl.registry import open_registry, Registry
from mlops_dl.runtime.variants import legacy  # model.json's "int8" key = the dynamic file
from mlops_dl.runtime import from_dir, from_version, Predictor
from tests.fixtures.make_tiny import make_rows
from tests.unit.monitor_helpers import LABELS, canvas_file, copy_registry, worse_bundle, write_log

SCRIPT_TWEET = '<script>window.__pwned = 1</script> my flight got <b>cancelled</b> again'
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _rescore(bundle: Path, variants: list[str]) -> None:
    """eval_samples.jsonl, metrics.json and validation.json of ``bundle`` from its own ONNX."""
    meta = json.loads((bundle / "model.json").read_text())
    meta["variants"] = {v: f for v, f in meta["variants"].items() if v in variants}
    (bundle / "model.json").write_text(json.dumps(meta, indent=2))
    if "int8" not in variants:
        (bundle / "model.int8.onnx").unlink()
    data = load_prepared(json.loads((bundle / "lineage.json").read_text())["data_dir"])
    served = "int8" if "int8" in variants else "fp32"
    preds: dict[str, dict[str, np.ndarray]] = {}
    for v in variants:
        predictor = from_dir(bundle, provider="cpu", variant=legacy("onnxruntime", v))
        preds[v] = {s: predictor.predict_proba(data.texts_labels(s)[0]) for s in ("validation", "test")}
    texts, gold = data.texts_labels("validation")
    with open(bundle / "eval_samples.jsonl", "w", encoding="utf-8") as f:
        for i, (text, g) in enumerate(zip(texts, gold)):
            probs = preds[served]["validation"][i]
            f.write(json.dumps({"text": text, "label": LABELS[g], "pred": LABELS[int(probs.argmax())],
                                "probabilities": {lab: round(float(p), 6) for lab, p in zip(LABELS, probs)},
                                "variant": served, "pred_by_variant": {
                                    v: LABELS[int(preds[v]["validation"][i].argmax())] for v in variants}}) + "\n")
    metrics = {s: classification_report(data.texts_labels(s)[1], preds[served][s].argmax(1).tolist(), LABELS)
               for s in ("validation", "test")}
    (bundle / "metrics.json").write_text(json.dumps(metrics, indent=2))
    validation = json.loads((bundle / "validation.json").read_text())
    validation["variants"] = {v: {**validation["variants"][v], "macro_f1": classification_report(
        gold, preds[v]["validation"].argmax(1).tolist(), LABELS)["macro_f1"]} for v in variants}
    (bundle / "validation.json").write_text(json.dumps(validation, indent=2))


def _bench(version: int, variants: list[str]) -> dict:
    """A bench.json in `mlops-dl bench`'s layout (figures scaled by version for the charts)."""
    engines = {}
    for i, v in enumerate(variants):
        p50 = 1.0 + 0.3 * version + 0.5 * i
        engines[f"onnx-{v}"] = {"batch1": {"p50_ms": p50, "p95_ms": p50 * 1.4, "p99_ms": p50 * 1.9},
                                "shapes": {"b8xL32": {"sent_per_s": 900 / p50}}}
    return {"date": "2026-03-01T00:00:00+00:00", "hardware": {"cpu": "test cpu"}, "engines": engines}


def _run_with_logs(run_dir: Path, dest: Path) -> Path:
    """A copy of the tiny run's records with logs/metrics.csv in the Lightning CSV layout."""
    dest.mkdir(parents=True)
    for name in ("config.yaml", "metrics.json", "data.json", "env.json"):
        shutil.copy(run_dir / name, dest / name)
    (dest / "logs").mkdir()
    lines = ["step,epoch,train_loss,val_loss,val_macro_f1"]
    for step in range(1, 41):
        lines.append(f"{step},{step // 20},{1.1 * np.exp(-step / 15):.4f},,")
        if step % 10 == 0:
            lines.append(f"{step},{step // 20},,{1.0 * np.exp(-step / 20):.4f},{1 - np.exp(-step / 12):.4f}")
    (dest / "logs" / "metrics.csv").write_text("\n".join(lines) + "\n")
    return dest


def _study(folder: Path) -> Path:
    """A small Optuna study with trials.csv and summary.json in the layout `mlops-dl search`
    writes (search.report; not imported here: the search package pulls in the training stack)."""
    import optuna

    folder.mkdir(parents=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=folder.name, direction="maximize",
                                storage=f"sqlite:///{folder / 'study.db'}",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 1 - (t.suggest_float("lr", 1e-5, 1e-3, log=True) * 1e3 - 0.3) ** 2, n_trials=6)
    study.trials_dataframe(attrs=("number", "state", "value", "duration", "params", "user_attrs")).to_csv(
        folder / "trials.csv", index=False)
    summary = {"study": folder.name, "storage": f"sqlite:///{folder / 'study.db'}",
               "n_trials": len(study.trials), "complete": len(study.trials), "best_value": study.best_value}
    (folder / "summary.json").write_text(json.dumps(summary, default=str))
    return folder


def build_ui_world(tiny_registry: Path, tiny_run_dir: Path, tmp: Path) -> dict:
    """Registry (3 versions, history), log with a <script> text, canvas, runs dir, study."""
    reg = open_registry(copy_registry(tiny_registry, tmp / "registry"))
    v1 = reg.get("tiny:1")
    for index, shift, variants in ((1, 5.0, ["fp32"]), (2, 5.0, ["fp32", "int8"])):
        bundle = worse_bundle(v1.path, tmp / f"bundle-{index}", shift=shift, index=index)
        _rescore(bundle, variants)
        reg.register("tiny", bundle)
    for mv in reg.list_versions("tiny"):
        reg.attach(mv.ref, "bench.json", _bench(mv.version, sorted(mv.meta["variants"])))
    canvas_path = canvas_file(tmp, monitoring={"min_predictions": 10, "min_slice_predictions": 5},
                              feedback={"queue_size": 300, "dir": str(tmp / "feedback"), "dataset": "tiny"})
    canvas = load_canvas(canvas_path)
    accept(reg, "tiny:1", canvas)
    promote(reg, "tiny:1", canvas, to="production")
    promote(reg, "tiny:3", canvas, to="production", force=True, reason="canary of the positive-leaning head")
    texts = [t for t, _ in make_rows(90, seed=7)] + [SCRIPT_TWEET]
    log = write_log(tmp / "logs" / "predictions.jsonl", from_version(v1, provider="cpu"),
                    texts, start=T0, step_s=40)
    runs_dir = tmp / "runs"
    _run_with_logs(tiny_run_dir, runs_dir / "tiny-run-curves")
    studies = tmp / "studies"
    _study(studies / "tiny-study")
    return {"registry": reg.root, "log": log, "canvas": canvas_path, "runs": runs_dir,
            "studies": studies, "annotations": tmp / "annotations.csv", "tmp": tmp}


def ui_settings(world: dict, token: str | None = "ui-test-token", registry: Path | None = None):
    from mlops_dl.ui import UISettings

    return UISettings(registry=registry or world["registry"], logs=[str(world["log"])], token=token,
                      canvas=world["canvas"], annotations=world["annotations"], runs_dir=world["runs"],
                      studies_dir=world["studies"])


def expected_flips(registry: Path, a: int, b: int, variant: str) -> set[tuple[str, str, str]]:
    """(text, A label, B label) read straight from the two versions' eval_samples.jsonl."""
    rows = {}
    for v in (a, b):
        path = open_registry(registry).get(f"tiny:{v}", verify=False).path / "eval_samples.jsonl"
        rows[v] = {r["text"]: r["pred_by_variant"][variant] for r in map(json.loads, path.read_text().splitlines())}
    return {(t, rows[a][t], rows[b][t]) for t in rows[a] if t in rows[b] and rows[a][t] != rows[b][t]}
