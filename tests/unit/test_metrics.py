"""metrics.softmax and metrics.latency_percentiles: the one copy runtime, export, bench and
monitor share."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_dl.metrics import latency_percentiles, softmax


def test_softmax_rows_sum_to_one_in_float64_and_survive_large_logits():
    logits = np.array([[1000.0, 1000.0, 998.0], [0.0, 0.0, 0.0]], dtype=np.float32)  # (2, 3)
    p = softmax(logits)
    assert p.dtype == np.float64 and p.shape == (2, 3)
    assert np.allclose(p.sum(axis=-1), 1.0) and np.isfinite(p).all()
    assert p[0, 0] == pytest.approx(p[0, 1]) and p[0, 2] < p[0, 0]
    assert np.allclose(p[1], 1 / 3)


def test_latency_percentiles_names_each_percentile_and_is_empty_without_data():
    ms = list(range(1, 101))
    out = latency_percentiles(ms)
    assert set(out) == {"p50_ms", "p95_ms", "p99_ms"}
    assert out["p50_ms"] == pytest.approx(50.5) and out["p99_ms"] == pytest.approx(99.01)
    assert latency_percentiles(ms, (95,)) == {"p95_ms": pytest.approx(95.05)}
    assert latency_percentiles([]) == {} and latency_percentiles(np.array([])) == {}
