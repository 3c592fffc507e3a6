"""The low-confidence check: margin-based (same meaning for any label count), relative to the
reference stored at export, and older stored references still load."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from mlops_dl.errors import ConfigError
from mlops_dl.gates.canvas import MonitoringThresholds, load_canvas
from mlops_dl.monitor.check import evaluate_window
from mlops_dl.monitor.reference import CONFIDENCE_EDGES, histogram, reference_margins
from mlops_dl.monitor.window import LogWindow
from tests.unit.monitor_helpers import canvas_file, record

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _ref(labels: list[str], top: np.ndarray, with_margin: bool = True) -> dict:
    """A stored reference whose predictions have top probability ``top`` # (N,)."""
    k = len(labels)
    probs = np.stack([top, *[(1 - top) / (k - 1)] * (k - 1)], axis=1)  # (N, K)
    m = np.sort(probs, axis=1)[:, -1] - np.sort(probs, axis=1)[:, -2]
    ref = {"schema": "mlops-dl/reference-stats/1", "labels": labels, "n": len(top),
           "label_distribution": {lab: 1.0 if i == 0 else 0.0 for i, lab in enumerate(labels)},
           "confidence": histogram(top, CONFIDENCE_EDGES), "oov_rate": 0.0}
    if with_margin:
        ref["margin"] = histogram(m, CONFIDENCE_EDGES)
    return ref


def _window(labels: list[str], tops: list[float]) -> LogWindow:
    k = len(labels)
    recs = []
    for i, t in enumerate(tops):
        probs = {lab: (t if j == 0 else (1 - t) / (k - 1)) for j, lab in enumerate(labels)}
        rec = record(None, probs, T0, rid=str(i))
        rec["_t"] = T0
        recs.append(rec)
    return LogWindow(records=recs)


def test_two_class_margin_collapse_alarms():
    """Two labels: top probability < 0.5 never happens, the margin check still fires."""
    labels = ["bad", "good"]
    ref = _ref(labels, np.full(400, 0.95))
    report = evaluate_window(_window(labels, [0.55] * 300), ref, MonitoringThresholds())
    low = report["low_confidence"]
    assert low["reference_share"] == 0.0 and low["share"] == 1.0 and low["status"] == "alarm"
    assert any(a.startswith("low confidence") for a in report["alarms"])


def test_a_modest_model_on_its_own_distribution_does_not_alarm():
    """76 % low-confidence in the reference and in the window: no shift, no alarm."""
    labels = ["negative", "neutral", "positive"]
    rng = np.random.default_rng(0)
    tops = np.where(rng.random(600) < 0.76, 0.45, 0.9)
    ref = _ref(labels, tops[:300])
    report = evaluate_window(_window(labels, tops[300:].tolist()), ref, MonitoringThresholds())
    low = report["low_confidence"]
    assert low["reference_share"] > 0.6 and low["share"] > 0.6 and low["status"] == "ok"
    assert not any("low confidence" in a for a in report["alarms"] + report["warnings"])


def test_reference_without_margins_still_loads():
    labels2, labels3 = ["bad", "good"], ["a", "b", "c"]
    old2 = _ref(labels2, np.full(200, 0.9), with_margin=False)
    assert reference_margins(old2) == pytest.approx(np.full(200, 0.8))
    report = evaluate_window(_window(labels2, [0.52] * 150), old2, MonitoringThresholds())
    assert report["low_confidence"]["status"] == "alarm"
    old3 = _ref(labels3, np.full(200, 0.9), with_margin=False)
    report = evaluate_window(_window(labels3, [0.4] * 150), old3, MonitoringThresholds())
    assert report["low_confidence"]["status"] == "no-reference"
    assert any("no margins" in n for n in report["notes"])
    assert not any("low confidence" in a for a in report["alarms"])


def test_old_canvas_keys_name_their_replacement(tmp_path):
    path = canvas_file(tmp_path, monitoring={"low_confidence": 0.5})
    with pytest.raises(ConfigError, match="monitoring.low_confidence is replaced by monitoring.low_margin"):
        load_canvas(path)
