"""NannyML and Evidently on the streams `mlops-dl bench-monitor --streams DIR` wrote, beside ours.

    python scripts/bench_monitor_peers.py DIR [--seeds 3]   # inside the peers venv

Runs in its own virtual environment (scripts/bench_monitor_peers.sh makes it): the two tools pin
libraries the project's venv must not take. Each tool sees the same files: reference.csv (the
validation texts scored at export: length, predicted label, probabilities, gold) and one CSV per
stream. Both work in chunks of the bench's ``--chunk`` predictions; an alarm counts when its
chunk ends, so the delay is chunk end minus the shift position. Methods:

- NannyML CBPE: estimated macro-F1 per chunk, alert below its lower threshold (from reference
  chunks); the estimate's error against the realised macro-F1 of post-shift chunks.
- NannyML drift: univariate drift (KS on length and probabilities, chi-square on the predicted
  label), an alarm when any column alerts.
- Evidently: DataDriftPreset (its defaults: K-S / chi-square per column, dataset drift when half
  the columns drift).

Writes DIR/peers.json and prints ours and theirs as one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # markdown_table: numpy only

from mlops_dl.monitor.bench import markdown_table  # noqa: E402


def realised_f1(gold: pd.Series, pred: pd.Series, labels: list[str]) -> float:
    """Macro-F1 with F1 = 0 for a class neither predicted nor present (as ours)."""
    f1 = []
    for lab in labels:
        tp = int(((gold == lab) & (pred == lab)).sum())
        denom = int((gold == lab).sum() + (pred == lab).sum())
        f1.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1))


def nannyml_stream(ref: pd.DataFrame, df: pd.DataFrame, labels: list[str], chunk: int) -> dict:
    import nannyml as nml

    proba = {lab: f"proba_{lab}" for lab in labels}
    cbpe = nml.CBPE(y_pred_proba=proba, y_pred="pred", y_true="gold", metrics=["f1"],
                    problem_type="classification_multiclass", chunk_size=chunk).fit(ref)
    est = cbpe.estimate(df.drop(columns=["gold"])).filter(period="analysis").to_df()
    drift = nml.UnivariateDriftCalculator(
        column_names=["length", "pred", *proba.values()], chunk_size=chunk,
        continuous_methods=["kolmogorov_smirnov"], categorical_methods=["chi2"]).fit(ref.drop(columns=["gold"]))
    d = drift.calculate(df.drop(columns=["gold"])).filter(period="analysis").to_df()
    ends = est[("chunk", "end_index")].to_numpy() + 1
    chunks = [{"start": int(e - chunk), "end": int(e), "estimated": float(v), "lo": float(lo), "hi": float(hi)}
              for e, v, lo, hi in zip(ends, est[("f1", "value")], est[("f1", "lower_confidence_boundary")],
                                      est[("f1", "upper_confidence_boundary")])]
    alerts = [c for c in d.columns if c[-1] == "alert"]
    drift_ends = d[next(c for c in d.columns if c[0] == "chunk" and c[-1] == "end_index")].to_numpy() + 1
    return {"NannyML CBPE": _first(ends, est[("f1", "alert")].to_numpy()),
            "NannyML drift": _first(drift_ends, d[alerts].any(axis=1).to_numpy()),
            "chunks": chunks}


def evidently_stream(ref: pd.DataFrame, df: pd.DataFrame, labels: list[str], chunk: int) -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = DataDefinition(numerical_columns=["length", *(f"proba_{lab}" for lab in labels)],
                          categorical_columns=["pred"])
    reference = Dataset.from_pandas(ref.drop(columns=["gold"]), data_definition=cols)
    ends, fired = [], []
    for start in range(0, len(df) - chunk + 1, chunk):
        current = Dataset.from_pandas(df.iloc[start:start + chunk].drop(columns=["gold"]), data_definition=cols)
        snap = Report([DataDriftPreset()]).run(current, reference).dict()
        count = next(m["value"] for m in snap["metrics"] if "DriftedColumnsCount" in str(m.get("metric_name") or m.get("metric_id")))
        ends.append(start + chunk)
        fired.append(count["share"] >= 0.5)
        if fired[-1]:
            break  # the first alarm is all the bench needs
    return {"Evidently": _first(np.array(ends), np.array(fired))}


def _first(ends: np.ndarray, fired: np.ndarray) -> int | None:
    """Position (chunk end) of the first alarm, None when none fired."""
    hits = np.flatnonzero(fired)
    return int(ends[hits[0]]) if len(hits) else None


def summarise(shift: str, method: str, alarms: list[int | None], shift_at: int, errors=None) -> dict:
    early = [a for a in alarms if a is not None and a <= shift_at]
    late = [a - shift_at for a in alarms if a is not None and a > shift_at]
    row = {"shift": shift, "method": method, "seeds": len(alarms),
           "false_alarms": len(early) / len(alarms),
           "detected": None if shift == "none" else len(late) / len(alarms),
           "median_delay": float(np.median(late)) if late and shift != "none" else None}
    if errors:
        row |= {"estimate_mae": float(np.mean([abs(e["estimated"] - e["realised"]) for e in errors])),
                "coverage": float(np.mean([e["lo"] <= e["realised"] <= e["hi"] for e in errors]))}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("streams", type=Path)
    parser.add_argument("--seeds", type=int, default=None, help="streams per shift (default: all written)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    meta = json.loads((args.streams / "meta.json").read_text())
    labels, chunk = meta["labels"], meta["chunk"]
    ref = pd.read_csv(args.streams / "reference.csv", keep_default_na=False)
    results: dict[str, dict] = {}
    for s in meta["streams"]:
        if args.seeds is not None and s["seed"] >= args.seeds:
            continue
        df = pd.read_csv(args.streams / s["file"], keep_default_na=False)
        out = nannyml_stream(ref, df, labels, chunk) | evidently_stream(ref, df, labels, chunk)
        for c in out.pop("chunks"):
            part = df.iloc[c["start"]:c["end"]]
            if c["start"] >= (s["shift_at"] if s["shift"] != "none" else 0) and (part["gold"] != "").all():
                c["realised"] = realised_f1(part["gold"], part["pred"], labels)
                results.setdefault(s["shift"], {}).setdefault("errors", []).append(c)
        for method, at in out.items():
            results.setdefault(s["shift"], {}).setdefault(method, []).append((at, s["shift_at"]))
        print(f"{s['file']}: {out}", file=sys.stderr)
    rows = []
    for shift, r in results.items():
        for method in ("NannyML CBPE", "NannyML drift", "Evidently"):
            at = [a for a, _ in r[method]]
            rows.append(summarise(shift, method, at, r[method][0][1],
                                  r.get("errors") if method == "NannyML CBPE" else None))
    (args.streams / "peers.json").write_text(json.dumps({"table": rows}, indent=2))
    ours = json.loads((args.streams / "ours.json").read_text())["table"]
    order = {s: i for i, s in enumerate(dict.fromkeys(r["shift"] for r in ours))}
    merged = sorted(ours + rows, key=lambda r: order.get(r["shift"], 99))
    print(markdown_table(merged))


if __name__ == "__main__":
    main()
