"""The behavioural suite's logic with a scripted predictor (no model needed)."""

from __future__ import annotations

import numpy as np

from mlops_dl.gates import behaviour
from mlops_dl.gates.canvas import BehaviourSuite

LABELS = ["negative", "neutral", "positive"]


class ScriptedPredictor:
    """positive when 'love' or 'great' appears without a negation; negative when 'Maria' does."""

    labels = LABELS

    def predict_proba(self, texts):
        rows = []
        for t in texts:
            negated = "don't" in t or "not" in t
            if "Maria" in t:
                rows.append([0.8, 0.1, 0.1])
            elif any(w in t for w in ("love", "great", "amazing", "like", "enjoy")) and not negated:
                rows.append([0.1, 0.1, 0.8])
            else:
                rows.append([0.2, 0.6, 0.2])
        return np.array(rows)  # (N, L)


def test_invariance_cases_swap_or_append_the_token():
    pairs = behaviour.invariance_cases(["hi @bob see <url>", "plain text"], "mention", 10)
    assert len(pairs) == 2
    a, b = pairs[0]
    assert "@bob" not in a and a != b and a.endswith("see <url>")
    assert pairs[1][0].startswith("plain text @") and pairs[1][0] != pairs[1][1]
    url_pairs = behaviour.invariance_cases(["look <url> now"], "url", 10)
    assert url_pairs[0][0] != url_pairs[0][1] and url_pairs[0][0].startswith("look ")
    names = behaviour.invariance_cases(["James said hi"], "name", 10)
    assert names[0][0] != names[0][1] and names[0][0].endswith(" said hi")
    assert len(names) == 1 + 3 * len(behaviour.NAME_TEMPLATES)


def test_negation_check_passes_for_a_negation_aware_model():
    result = behaviour.negation(ScriptedPredictor(), "positive", 0.8)
    assert result["passed"] and result["rate"] == 1.0 and result["mean_drop"] > 0.5


def test_name_invariance_fails_when_a_name_flips_the_label():
    pairs = behaviour.invariance_cases([], "name", 10)
    result = behaviour.invariance(ScriptedPredictor(), pairs, 0.95, "name")
    assert not result["passed"] and result["rate"] < 0.95
    assert result["failures"] and {"a", "b", "label_a", "label_b"} <= set(result["failures"][0])


def test_run_suite_collects_all_checks():
    suite = BehaviourSuite(invariance_min_rate=0.5, negation_min_rate=0.5, max_cases=5)
    result = behaviour.run_suite(ScriptedPredictor(), ["good morning @x", "bad day <url>"], suite)
    assert [c["name"] for c in result["checks"]] == ["invariance_name", "invariance_mention",
                                                     "invariance_url", "negation"]
    assert result["gate"] is True
