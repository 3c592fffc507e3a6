"""The behavioural suite's logic with a scripted predictor (no model needed)."""

from __future__ import annotations

import numpy as np

from mlops_dl.gates import behaviour
from mlops_dl.gates.canvas import BehaviourSuite, InvarianceCheck, NegationCheck

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


def test_invariance_cases_swap_the_token_and_append_only_when_asked():
    pairs = behaviour.invariance_cases(["hi @bob see <url>", "plain text"], "mention", 10)
    assert len(pairs) == 1  # "plain text" has no @mention: nothing appended by default
    a, b = pairs[0]
    assert "@bob" not in a and a != b and a.endswith("see <url>")
    appended = behaviour.invariance_cases(["plain text"], "mention", 10, InvarianceCheck(append=True))
    assert appended[0][0].startswith("plain text @") and appended[0][0] != appended[0][1]
    url_pairs = behaviour.invariance_cases(["look <url> now"], "url", 10)
    assert url_pairs[0][0] != url_pairs[0][1] and url_pairs[0][0].startswith("look ")
    names = behaviour.invariance_cases(["James said hi"], "name", 10)
    assert names[0][0] != names[0][1] and names[0][0].endswith(" said hi")
    assert len(names) == 1 + behaviour.PER_TEMPLATE * len(behaviour.TEMPLATES["name"])


def test_pools_templates_and_negation_pairs_come_from_the_canvas():
    check = InvarianceCheck(pool=["Ana", "Bo"], templates=["{x} signed the lease."])
    pairs = behaviour.invariance_cases(["Ana paid rent", "James paid"], "name", 10, check)
    assert pairs[0] in {("Ana paid rent", "Bo paid rent"), ("Bo paid rent", "Ana paid rent")}
    assert len(pairs) == 1 + behaviour.PER_TEMPLATE and "James" not in str(pairs)
    pos, neg = behaviour.negation_cases(["{x} works => {x} does not work"], ["the app", "it"])
    assert pos == ["the app works", "it works"] and neg == ["the app does not work", "it does not work"]


def test_negation_check_passes_for_a_negation_aware_model():
    result = behaviour.negation(ScriptedPredictor(), "positive", 0.8)
    assert result["passed"] and result["rate"] == 1.0 and result["mean_drop"] > 0.5


def test_name_invariance_fails_when_a_name_flips_the_label():
    pairs = behaviour.invariance_cases([], "name", 10)
    result = behaviour.invariance(ScriptedPredictor(), pairs, 0.95, "name")
    assert not result["passed"] and result["rate"] < 0.95
    assert result["failures"] and {"a", "b", "label_a", "label_b"} <= set(result["failures"][0])


def test_run_suite_collects_all_checks():
    suite = BehaviourSuite(invariance_min_rate=0.5, negation_min_rate=0.5, max_cases=5, min_cases=1)
    result = behaviour.run_suite(ScriptedPredictor(), ["good morning @x", "bad day <url>", "Maria"], suite)
    assert [c["name"] for c in result["checks"]] == ["invariance_name", "invariance_mention",
                                                     "invariance_url", "negation"]
    assert result["gate"] is True and not any(c.get("skipped") for c in result["checks"])
    assert result["cases"] == {"invariance_name": 1 + 18, "invariance_mention": 1,
                               "invariance_url": 1, "negation": 60}


def test_checks_follow_what_the_data_contains():
    """Reviews with no @mentions, URLs or names: those checks are off, and say why."""
    texts = [f"the room was clean and quiet, stay {i}" for i in range(50)]
    result = behaviour.run_suite(ScriptedPredictor(), texts, BehaviourSuite())
    by = {c["name"]: c for c in result["checks"]}
    assert by["invariance_mention"]["skipped"] == "off (auto: 0 of 50 test texts contain an @mention)"
    assert by["invariance_url"]["skipped"].startswith("off (auto: 0 of 50")
    assert by["invariance_name"]["skipped"].startswith("off (auto: 0 of 50")
    assert by["negation"]["cases"] == 60 and "skipped" not in by["negation"]
    assert result["cases"]["invariance_mention"] == 0


def test_switches_thresholds_and_min_cases_from_the_canvas():
    suite = BehaviourSuite(min_cases=3, mention=InvarianceCheck(enabled=True, min_rate=0.1),
                           url=InvarianceCheck(enabled=False),
                           negation=NegationCheck(enabled=False))
    result = behaviour.run_suite(ScriptedPredictor(), ["hi @a", "yo @b", "ok @c"], suite)
    by = {c["name"]: c for c in result["checks"]}
    assert by["invariance_mention"]["cases"] == 3 and by["invariance_mention"]["min_rate"] == 0.1
    assert by["invariance_url"]["skipped"] == "off (behaviour.url.enabled: false)"
    assert by["negation"]["skipped"] == "off (behaviour.negation.enabled: false)"
    few = behaviour.run_suite(ScriptedPredictor(), ["hi @a"], suite)
    mention = {c["name"]: c for c in few["checks"]}["invariance_mention"]
    assert mention["skipped"].startswith("1 cases < behaviour.min_cases 3") and mention["passed"]
