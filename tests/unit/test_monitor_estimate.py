"""Calibration, label-free F1 estimation, EM label-shift correction and sequential alarms on
synthetic streams whose true probabilities are known."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_dl.errors import MlopsError
from mlops_dl.metrics import softmax
from mlops_dl.monitor import calibration, estimate, sequential

LABELS = ["a", "b", "c"]
MEANS = np.eye(3) * 1.6  # class k: x ~ N(MEANS[k], I)


def synthetic(n: int, rng, prior=(1 / 3, 1 / 3, 1 / 3)) -> tuple[np.ndarray, np.ndarray]:
    """Exact posteriors under the uniform prior (what a model calibrated on a balanced split
    outputs) and gold drawn from ``prior``. -> (probs # (N, 3), gold # (N,))"""
    gold = rng.choice(3, size=n, p=np.asarray(prior))
    x = MEANS[gold] + rng.normal(size=(n, 3))  # (N, 3)
    log_lik = x @ MEANS.T - 0.5 * (MEANS ** 2).sum(axis=1)  # (N, 3) up to a per-row constant
    return softmax(log_lik), gold


def test_calibration_lowers_the_error_of_overconfident_probabilities():
    probs, gold = synthetic(1500, np.random.default_rng(0))
    overconfident = softmax(3.0 * np.log(probs))  # logits scaled up: too sure
    fitted = calibration.fit_calibrator(overconfident, gold, LABELS, "int8")
    assert fitted["method"] in ("temperature", "isotonic")
    assert fitted["ece_after"] < fitted["ece_before"] / 3
    assert fitted["ece_cross_fitted"][fitted["method"]] < fitted["ece_cross_fitted"]["none"]
    temp = calibration.fit_temperature(overconfident, gold)["temperature"]
    assert temp == pytest.approx(3.0, rel=0.15)  # recovers the scaling
    again = calibration.apply(fitted, overconfident)
    assert np.allclose(again.sum(axis=1), 1.0) and (again.argmax(1) == overconfident.argmax(1)).mean() > 0.95
    assert calibration.check(fitted, LABELS) is None and "labels" in calibration.check(fitted, ["x", "y"])


def test_calibration_refuses_a_tiny_validation_split():
    with pytest.raises(MlopsError, match="at least 10 validation texts"):
        calibration.fit_calibrator(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0]), LABELS, "int8")
    with pytest.raises(MlopsError, match="calibration method 'platt'"):
        calibration.apply({"method": "platt"}, np.full((2, 3), 1 / 3))


def test_estimated_macro_f1_interval_covers_the_realised_one_in_90_percent_of_seeds():
    covered, errors = 0, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        probs, gold = synthetic(400, rng)
        pred = probs.argmax(axis=1)
        est = estimate.estimate(probs, pred, LABELS, seed=seed)
        real = estimate.realised(gold, pred, LABELS)["macro_f1"]
        lo, hi = est["interval"]
        covered += lo <= real <= hi
        errors.append(abs(est["macro_f1"] - real))
    assert covered / 40 >= 0.90
    assert np.mean(errors) < 0.03


def test_em_recovers_a_known_prior_and_corrects_the_estimate():
    rng = np.random.default_rng(1)
    prior = np.array([0.6, 0.3, 0.1])
    probs, gold = synthetic(4000, rng, prior)
    found, posteriors = estimate.em_prior(probs, np.full(3, 1 / 3))
    assert np.abs(found - prior).max() < 0.03
    assert np.allclose(posteriors.sum(axis=1), 1.0)
    pred = probs.argmax(axis=1)
    real = estimate.realised(gold, pred, LABELS)["macro_f1"]
    corrected = estimate.estimate(probs, pred, LABELS, np.full(3, 1 / 3), reps=0)["macro_f1"]
    plain = estimate.estimate(probs, pred, LABELS, reps=0)["macro_f1"]
    assert abs(corrected - real) < abs(plain - real) and abs(corrected - real) < 0.02


def test_sequential_false_alarm_rate_on_unshifted_streams_is_at_most_the_configured_one():
    alpha, fired = 0.05, 0
    for seed in range(600):  # the mean sits exactly on the null's boundary: the hardest case
        x = np.random.default_rng(seed).random(2000) < 0.8
        fired += sequential.run_test(sequential.accuracy_test("acc", x, 0.8, 0.0), alpha)["alarm_at"] is not None
    assert fired / 600 <= alpha


def test_sequential_alarm_fires_soon_after_a_drop_and_names_the_test():
    rng = np.random.default_rng(2)
    x = np.r_[rng.random(500) < 0.85, rng.random(1500) < 0.65]
    tests = [sequential.accuracy_test("expected accuracy", x, 0.85, 0.05),
             *sequential.share_tests("share", rng.random(2000) < 0.5, 0.5, 0.05)]
    result = sequential.run_tests(tests, 0.01)
    assert result["alarm"] == "expected accuracy" and 500 <= result["alarm_at"] < 1000
    assert all(t["alpha"] == pytest.approx(0.01 / 3) for t in result["tests"])
