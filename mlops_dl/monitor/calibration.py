"""Probability calibration: fitted at export on the validation split, applied to logged probabilities.

Two calibrators, chosen by the expected calibration error (ECE) of their out-of-fold
predictions on the validation split (5-fold cross-fitting, so isotonic's in-sample fit cannot win
by memorising): temperature scaling (one T, softmax(log p / T)) and per-class isotonic
regression (one-vs-rest pool-adjacent-violators, rows renormalised). "none" stays when neither
lowers it by 10 %. ``ece_after`` is the chosen method's cross-fitted ECE (what it does on texts
it was not fitted on); the in-sample figure is kept beside it. The result is plain JSON (schema ``mlops-dl/calibration/1``), the version's
``calibration.json`` attachment; nothing unpickles. numpy + scipy only (serving path).
"""

from __future__ import annotations

import numpy as np

from mlops_dl.errors import MlopsError

SCHEMA = "mlops-dl/calibration/1"
METHODS = ("none", "temperature", "isotonic")
ECE_BINS = 15
FOLDS = 5
GAIN = 0.9  # a calibrator is used only when it cuts the cross-fitted ECE by 10 % or more
FLOOR = 1e-6  # probabilities are clipped here before logs and renormalisation


def ece(probs: np.ndarray, gold: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error: sum over equal-width confidence bins of
    share * |accuracy - mean confidence|. probs # (N, L), gold # (N,)"""
    conf = probs.max(axis=1)  # (N,)
    hit = (probs.argmax(axis=1) == gold).astype(np.float64)  # (N,)
    which = np.minimum((conf * bins).astype(int), bins - 1)  # (N,)
    total = 0.0
    for b in np.unique(which):
        m = which == b
        total += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(total)


def _nll(logp: np.ndarray, gold: np.ndarray, t: float) -> float:
    z = logp / t  # (N, L)
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))  # (N,)
    return float((lse - z[np.arange(len(gold)), gold]).mean())


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> dict:
    """The T in [0.05, 20] minimising the negative log-likelihood of softmax(log p / T)."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(probs, FLOOR, 1.0))  # (N, L): logits up to a per-row constant
    res = minimize_scalar(lambda u: _nll(logp, gold, float(np.exp(u))),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return {"temperature": float(np.exp(res.x))}


def _pav(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic (non-decreasing) fit of y on x by pool-adjacent-violators: knots (x, y).
    Equal x values are pooled first, so the knots' x never repeat within a block."""
    xs, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ys = np.bincount(inverse, weights=y) / counts  # mean y per distinct x
    values, weights, lefts, rights = [], [], [], []
    for xi, yi, wi in zip(xs, ys, counts.astype(np.float64)):
        values.append(yi), weights.append(wi), lefts.append(xi), rights.append(xi)
        while len(values) > 1 and values[-2] >= values[-1]:
            w = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            weights[-2], rights[-2] = w, rights[-1]
            del values[-1], weights[-1], lefts[-1], rights[-1]
    knots_x = np.ravel(np.column_stack([lefts, rights]))  # each block spans [left, right]
    return knots_x, np.repeat(values, 2)


def fit_isotonic(probs: np.ndarray, gold: np.ndarray) -> dict:
    """Per class k: isotonic map p_k -> P(gold = k), as knot lists."""
    classes = []
    for k in range(probs.shape[1]):
        x, y = _pav(probs[:, k], (gold == k).astype(np.float64))
        classes.append({"x": [round(float(v), 6) for v in x], "y": [round(float(v), 6) for v in y]})
    return {"classes": classes}


def apply(calibrator: dict | None, probs: np.ndarray) -> np.ndarray:
    """Calibrated probabilities. probs # (N, L) -> (N, L); None or "none" returns them as they are."""
    method = (calibrator or {}).get("method", "none")
    params = (calibrator or {}).get("params") or {}
    if method == "none":
        return probs
    if method == "temperature":
        z = np.log(np.clip(probs, FLOOR, 1.0)) / params["temperature"]  # (N, L)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if method == "isotonic":
        cols = [np.interp(probs[:, k], c["x"], c["y"]) for k, c in enumerate(params["classes"])]
        out = np.clip(np.column_stack(cols), FLOOR, 1.0)  # (N, L)
        return out / out.sum(axis=1, keepdims=True)
    raise MlopsError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")


FITTERS = {"temperature": fit_temperature, "isotonic": fit_isotonic}


def _cross_fitted(method: str, probs: np.ndarray, gold: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold calibrated probabilities # (N, L)."""
    if method == "none":
        return probs
    folds = np.random.default_rng(seed).permutation(len(gold)) % FOLDS  # (N,)
    out = np.empty_like(probs)
    for f in range(FOLDS):
        held = folds == f
        fitted = {"method": method, "params": FITTERS[method](probs[~held], gold[~held])}
        out[held] = apply(fitted, probs[held])
    return out


def fit_calibrator(probs: np.ndarray, gold: np.ndarray, labels: list[str], variant: str,
                   seed: int = 0) -> dict:
    """Choose and fit the calibrator on validation probabilities # (N, L) and gold ids # (N,)."""
    gold = np.asarray(gold, dtype=np.int64)
    if len(gold) < 2 * FOLDS:
        raise MlopsError(f"calibration needs at least {2 * FOLDS} validation texts, got {len(gold)}")
    cv = {m: ece(_cross_fitted(m, probs, gold, seed), gold) for m in METHODS}
    fitted = [m for m in METHODS[1:] if cv[m] < GAIN * cv["none"]]
    method = min(fitted, key=lambda m: (cv[m], METHODS.index(m))) if fitted else "none"
    params = FITTERS[method](probs, gold) if method != "none" else {}
    calibrator = {"schema": SCHEMA, "method": method, "params": params, "variant": variant,
                  "labels": list(labels), "n": int(len(gold)), "bins": ECE_BINS,
                  "ece_cross_fitted": cv}
    calibrated = apply(calibrator, probs)  # (N, L)
    pred = probs.argmax(axis=1)  # the served label: the uncalibrated argmax
    calibrator.update({
        "ece_before": cv["none"], "ece_after": cv[method], "ece_after_in_sample": ece(calibrated, gold),
        "class_prior": (np.bincount(gold, minlength=len(labels)) / len(gold)).tolist(),
        "expected_accuracy": float(calibrated[np.arange(len(gold)), pred].mean()),
        "accuracy": float((pred == gold).mean()),
    })
    return calibrator


def check(calibrator: dict, labels: list[str]) -> str | None:
    """Why a stored calibration.json cannot be used for ``labels``, or None."""
    if calibrator.get("schema") != SCHEMA:
        return f"schema {calibrator.get('schema')!r} is not {SCHEMA}"
    if list(calibrator.get("labels") or []) != list(labels):
        return f"labels {calibrator.get('labels')} are not the model's {labels}"
    if calibrator.get("method") not in METHODS:
        return f"method {calibrator.get('method')!r} is not one of {', '.join(METHODS)}"
    return None


def fit_for_export(logits: dict, gold: list[int], labels: list[str], served: str,
                   log=lambda msg: None) -> dict | None:
    """The calibrator of the served variant from export's validation logits ({variant: (N, L)});
    None (logged) when the validation sample is too small."""
    from mlops_dl.metrics import softmax

    try:
        calibrator = fit_calibrator(softmax(logits[served]), np.asarray(gold), labels, served)
    except MlopsError as e:
        log(f"calibration skipped: {e}")
        return None
    log(f"calibration ({served}): {calibrator['method']}, ECE {calibrator['ece_before']:.4f} -> "
        f"{calibrator['ece_after']:.4f} (cross-fitted) on {calibrator['n']} validation texts")
    return calibrator


def summary(calibrator: dict | None) -> dict | None:
    """The figures for validation.json and the version page (no knots)."""
    if calibrator is None:
        return None
    keys = ("method", "variant", "n", "bins", "ece_before", "ece_after", "ece_after_in_sample",
            "ece_cross_fitted")
    return {k: calibrator[k] for k in keys} | {"temperature": calibrator["params"].get("temperature")}


def calibrator_for(registry, mv, predictor, store: bool = True) -> tuple[dict | None, str | None]:
    """The version's calibrator for ``predictor.variant`` and a note: the stored one when it
    was fitted for that variant, else one fitted on the validation texts and gold labels the
    export kept (eval_samples.jsonl) as scored by ``predictor``, stored in its place (as
    reference_for does). (None, why) when neither can be had."""
    from mlops_dl.registry import layout

    labels, variant = predictor.labels, predictor.variant
    stored = mv.attachment(layout.CALIBRATION)
    if stored is not None and check(stored, labels) is None and stored.get("variant") == variant:
        return stored, None
    rows = [r for r in mv.read_jsonl(layout.EVAL_SAMPLES) or [] if r.get("label") in labels]
    if len(rows) < 2 * FOLDS:
        why = "none stored" if stored is None else (check(stored, labels) or
                                                    f"fitted for {stored.get('variant')}")
        return None, f"no calibration for {variant} ({why}; {len(rows)} validation samples kept)"
    probs = predictor.predict_proba([r["text"] for r in rows])  # (N, L)
    fitted = fit_calibrator(probs, np.array([labels.index(r["label"]) for r in rows]), labels, variant)
    note = f"calibration fitted for {variant} on the {len(rows)} validation texts kept at export"
    if store:
        try:
            registry.attach(mv.ref, layout.CALIBRATION, fitted)
        except OSError as e:  # a read-only registry: use it, say it was not kept
            note += f" (not stored: {e.strerror or e})"
    return fitted, note
