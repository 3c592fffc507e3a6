"""The behavioural suite's logic with a scripted predictor (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_dl.gates import behaviour
from mlops_dl.gates.canvas import BehaviourSuite, InvarianceCheck, LabelTemplatesCheck, NegationCheck

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
                                                     "invariance_url", "negation", "label_templates"]
    assert result["gate"] is True and [c["name"] for c in result["checks"] if c.get("skipped")] \
        == ["label_templates"]  # no templates in the canvas
    assert result["cases"] == {"invariance_name": 1 + 18, "invariance_mention": 1,
                               "invariance_url": 1, "negation": 60, "label_templates": 0}


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


EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


class EmotionPredictor:
    """Six emotions: the label whose name (or 'happy' for joy) appears in the text, else fear."""

    labels = EMOTIONS

    def predict_proba(self, texts):
        rows = []
        for t in texts:
            hit = next((i for i, e in enumerate(EMOTIONS) if e in t), None)
            hit = 1 if "happy" in t else (4 if hit is None else hit)
            rows.append(np.eye(6)[hit] * 0.9 + 0.1 / 6)
        return np.array(rows)  # (N, 6)


def test_six_labels_skip_sentiment_builtins_and_run_canvas_templates():
    """An emotion model: no product-review negation (even with positive_label set to a label),
    no sentiment name templates; the canvas's sentences per label are the check."""
    suite = BehaviourSuite(positive_label="joy", min_cases=2, label_templates=LabelTemplatesCheck(
        templates={"joy": ["I am so happy about {x}", "pure joy today"],
                   "anger": ["{x} fills me with anger"], "sadness": ["so much sadness about {x}"]},
        objects=["the trip", "my exam"]))
    texts = ["James was late and I felt anger", "Maria brought sadness"] * 3
    result = behaviour.run_suite(EmotionPredictor(), texts, suite)
    by = {c["name"]: c for c in result["checks"]}
    assert "not negative/neutral/positive; set behaviour.negation.pairs" in by["negation"]["skipped"]
    assert by["invariance_name"]["cases"] == 6  # the test texts' names only
    assert "built-in name templates left out" in by["invariance_name"]["enabled"]
    lt = by["label_templates"]
    assert lt["cases"] == 2 + 1 + 2 + 2 and lt["passed"] and lt["rate"] == 1.0
    assert lt["per_label"] == {"joy": 1.0, "anger": 1.0, "sadness": 1.0}
    own = BehaviourSuite(negation=NegationCheck(pairs=["{x} brings joy => {x} brings no joy"]),
                         positive_label="joy", min_cases=1)
    run = {c["name"]: c for c in behaviour.run_suite(EmotionPredictor(), texts, own)["checks"]}
    assert "skipped" not in run["negation"] and run["negation"]["cases"] == len(behaviour.OBJECTS)


def test_label_templates_fail_with_examples_and_canvas_checks_their_labels(tmp_path):
    from mlops_dl.errors import ConfigError
    from mlops_dl.gates.canvas import CanvasConfig

    check = LabelTemplatesCheck(templates={"surprise": ["what a shock"]}, min_rate=0.5)
    result = behaviour.label_templates(EmotionPredictor(), behaviour.label_template_cases(check), 0.5)
    assert not result["passed"] and result["failures"][0] == {
        "text": "what a shock", "expected": "surprise", "predicted": "fear"}
    with pytest.raises(ConfigError, match="behaviour.label_templates.templates: keys must be labels"):
        CanvasConfig(name="emo", task="t", labels=EMOTIONS, data_config="d.yaml",
                     behaviour=BehaviourSuite(label_templates=LabelTemplatesCheck(
                         templates={"happiness": ["yay"]})))
