"""Drift statistics on known distributions: PSI, chi-square, KS, the status rule, uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_dl.monitor import drift


def test_psi_of_identical_distributions_is_zero():
    assert drift.psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_the_formula():
    # shares 0.5/0.5 -> 0.9/0.1: 0.4 ln(1.8) + (-0.4) ln(0.2)
    expected = 0.4 * math.log(1.8) - 0.4 * math.log(0.2)
    assert drift.psi([50, 50], [90, 10]) == pytest.approx(expected, rel=1e-9)
    assert drift.psi([50, 50], [90, 10]) == pytest.approx(drift.psi([90, 10], [50, 50]), rel=1e-9)


def test_psi_with_an_empty_bin_stays_finite_and_large():
    value = drift.psi([100, 0], [50, 50])
    assert math.isfinite(value) and value > 1.0


def test_psi_refuses_mismatched_bins_and_empty_input():
    with pytest.raises(ValueError, match="same bins"):
        drift.psi([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="empty"):
        drift.psi([0, 0], [1, 1])


def test_bin_counts_adds_an_overflow_bin_and_clips_below():
    assert drift.bin_counts([-5, 0.5, 1.5, 2.0, 7.0], [0, 1, 2]) == [2, 2, 1]


def test_chi_square_fits_and_rejects():
    from scipy.stats import chi2

    same = drift.chi_square([1 / 3, 1 / 3, 1 / 3], [100, 100, 100])
    assert same["statistic"] == pytest.approx(0.0) and same["p_value"] == pytest.approx(1.0)
    skew = drift.chi_square([0.5, 0.5], [70, 30])
    assert skew["statistic"] == pytest.approx((20**2 / 50) * 2)  # 16
    assert skew["p_value"] == pytest.approx(chi2.sf(16, 1))
    assert drift.chi_square([0.5, 0.5], [0, 0])["p_value"] is None


def test_ks_same_distribution_vs_shifted():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    assert drift.ks(a, b)["p_value"] > 0.01
    shifted = drift.ks(a, b + 1.0)
    assert shifted["p_value"] < 1e-6 and shifted["statistic"] > 0.3
    assert drift.ks([0, 1, 2, 3], [10, 11])["statistic"] == pytest.approx(1.0)
    assert drift.ks([], [1.0])["p_value"] is None


@pytest.mark.parametrize("psi_value,p,expected", [
    (0.01, 0.5, "ok"), (0.15, 0.5, "warn"), (0.01, 1e-9, "warn"), (0.15, 1e-9, "alarm"),
    (0.30, 0.5, "alarm"), (None, None, "ok"),
])
def test_status_rule(psi_value, p, expected):
    assert drift.status(psi_value, p, psi_warn=0.1, psi_alarm=0.25, p_alpha=0.01) == expected


def test_margin_and_entropy():
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]])
    assert drift.margin(probs) == pytest.approx([1.0, 0.0, 0.3])
    ent = drift.entropy(probs)
    assert ent[0] == pytest.approx(0.0, abs=1e-9) and ent[1] == pytest.approx(math.log(3))
    assert ent[1] > ent[2] > ent[0]
