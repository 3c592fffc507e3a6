"""Behavioural tests through the ONNX Predictor (CheckList-style, no labels needed).

Invariance: swapping a person name, an @mention or a URL for another must not change the
label. Directional: negating a positive statement ("I love X" -> "I don't love X") must move
probability mass away from the positive label. Label templates (any label set): sentences the
canvas writes for each label must be predicted as it. The canvas ``behaviour`` section switches
each check on or off ("auto": on when the test texts contain what it perturbs), sets its pool,
templates and threshold. The built-in sentences (name templates, negation pairs) are English
sentiment statements: used only when the canvas labels are negative/(neutral/)positive;
otherwise a check runs on the canvas's own sentences or is skipped with why. Each check returns
its figures, its case count and failures.
"""

from __future__ import annotations

import random
import re

import numpy as np

from mlops_dl.gates.canvas import BehaviourSuite, InvarianceCheck, LabelTemplatesCheck

NAMES = ["James", "Maria", "Wei", "Aisha", "Carlos", "Olga", "Kenji", "Fatima", "John", "Priya",
         "Emma", "Liam", "Sofia", "Ahmed", "Chloe", "Mateo", "Hana", "David", "Amara", "Lucas"]
HANDLES = ["@jane_doe", "@mike_t", "@newsdesk", "@coffee_lover", "@k_nguyen", "@user"]
URLS = ["https://t.co/a1B2c3", "http://example.com/news/42", "<url>", "www.shop.example/deal"]
POOLS = {"name": NAMES, "mention": HANDLES, "url": URLS}
MENTION = re.compile(r"(?<![\w@])@\w+")
URL = re.compile(r"(?i)(?:https?://\S+|www\.\S+|<url>)")
WHAT = {"name": "a name of the pool", "mention": "an @mention", "url": "a URL"}
TEMPLATES = {"name": ["{x} said the hotel was lovely.", "{x} thinks the new update is terrible.",
                      "Going to see {x} at the concert tonight.",
                      "{x} was late again and I am so annoyed.",
                      "Had dinner with {x}, the food was fine.", "{x} just won the game!"],
             "mention": [], "url": []}
PAIRS = ["I love {x} => I don't love {x}", "I like {x} => I don't like {x}",
         "{x} is great => {x} is not great", "{x} was amazing => {x} was not amazing",
         "I enjoy {x} => I do not enjoy {x}", "I really love {x} => I really don't love {x}"]
OBJECTS = ["this phone", "the new album", "my job", "this airline", "the movie", "the service",
           "this game", "the update", "the food", "the team"]
SENTIMENT = ({"negative", "neutral", "positive"}, {"negative", "positive"})  # built-ins fit these
TOPICS = ["the trip", "my new job", "the weekend", "the news", "this city", "the results"]
EXAMPLES = 5  # failing cases quoted per check
PER_TEMPLATE = 3  # pairs built from each template


def builtins_fit(labels) -> bool:
    """The built-in English sentiment sentences apply to these labels."""
    return set(labels) in SENTIMENT


def pattern_for(kind: str, pool: list[str]) -> re.Pattern:
    """What an invariance check swaps: @mentions, URLs, or the names of ``pool``."""
    if kind == "mention":
        return MENTION
    if kind == "url":
        return URL
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in pool) + r")\b")


def invariance_cases(texts: list[str], kind: str, max_cases: int,
                     check: InvarianceCheck | None = None, seed: int = 0,
                     builtin: bool = True) -> list[tuple[str, str]]:
    """Pairs that differ only in a name / mention / URL: test texts that contain one (plus, with
    ``check.append``, texts with one appended), at most ``max_cases``, then the templates (the
    built-in ones only when ``builtin``: they are sentiment sentences)."""
    check = check or InvarianceCheck()
    pool = check.pool or POOLS[kind]
    pattern = pattern_for(kind, pool)
    rng = random.Random(seed)
    pairs = []
    for t in texts:
        if len(pairs) >= max_cases:
            break
        a, b = rng.sample(pool, 2)
        if pattern.search(t):
            pairs.append((pattern.sub(a, t), pattern.sub(b, t)))
        elif check.append:
            pairs.append((f"{t} {a}", f"{t} {b}"))
    default = TEMPLATES[kind] if builtin else []
    for template in default if check.templates is None else check.templates:
        for _ in range(PER_TEMPLATE):
            a, b = rng.sample(pool, 2)
            pairs.append((template.replace("{x}", a), template.replace("{x}", b)))
    return pairs


def invariance(predictor, pairs: list[tuple[str, str]], min_rate: float, kind: str) -> dict:
    """Share of pairs whose two texts get the same label."""
    probs = predictor.predict_proba([t for pair in pairs for t in pair])  # (2P, L)
    labels = probs.argmax(axis=1).reshape(-1, 2)  # (P, 2)
    same = labels[:, 0] == labels[:, 1]
    names = predictor.labels
    failures = [{"a": pairs[i][0], "b": pairs[i][1], "label_a": names[labels[i, 0]],
                 "label_b": names[labels[i, 1]]} for i in np.flatnonzero(~same)[:EXAMPLES]]
    rate = float(same.mean()) if len(pairs) else 1.0
    return {"name": f"invariance_{kind}", "cases": len(pairs), "rate": rate,
            "min_rate": min_rate, "passed": rate >= min_rate, "failures": failures}


def negation_cases(pairs: list[str] | None = None, objects: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(positive texts, their negations) from "positive {x} => negated {x}" pairs."""
    split = [p.split(" => ") for p in (PAIRS if pairs is None else pairs)]
    objs = OBJECTS if objects is None else objects
    pos = [a.replace("{x}", x) for a, _ in split for x in objs]
    neg = [b.replace("{x}", x) for _, b in split for x in objs]
    return pos, neg


def negation(predictor, positive_label: str, min_rate: float,
             cases: tuple[list[str], list[str]] | None = None) -> dict:
    """Share of positive statements whose negation lowers P(positive_label)."""
    pos, neg = cases or negation_cases()
    k = predictor.labels.index(positive_label)
    probs = predictor.predict_proba(pos + neg)  # (2P, L)
    p_pos, p_neg = probs[: len(pos), k], probs[len(pos):, k]  # (P,) each
    lowered = p_neg < p_pos
    failures = [{"a": pos[i], "b": neg[i], "p_a": float(p_pos[i]), "p_b": float(p_neg[i])}
                for i in np.flatnonzero(~lowered)[:EXAMPLES]]
    rate = float(lowered.mean()) if len(pos) else 1.0
    return {"name": "negation", "cases": len(pos), "rate": rate, "min_rate": min_rate,
            "passed": rate >= min_rate, "mean_drop": float((p_pos - p_neg).mean()) if len(pos) else 0.0,
            "positive_label": positive_label, "failures": failures}


def label_template_cases(check: LabelTemplatesCheck) -> list[tuple[str, str]]:
    """(sentence, expected label) from the canvas's templates per label."""
    objects = check.objects or TOPICS
    return [(t.replace("{x}", x), label) for label, templates in check.templates.items()
            for t in templates for x in (objects if "{x}" in t else [""])]


def label_templates(predictor, cases: list[tuple[str, str]], min_rate: float) -> dict:
    """Share of the canvas's sentences predicted as the label they were written for."""
    probs = predictor.predict_proba([t for t, _ in cases])  # (N, L)
    names = list(predictor.labels)
    got = [names[i] for i in probs.argmax(axis=1)]
    hit = np.array([g == want for g, (_, want) in zip(got, cases)])
    per_label = {lab: float(np.mean([h for h, (_, w) in zip(hit, cases) if w == lab]))
                 for lab in dict.fromkeys(w for _, w in cases)}
    failures = [{"text": cases[i][0], "expected": cases[i][1], "predicted": got[i]}
                for i in np.flatnonzero(~hit)[:EXAMPLES]]
    rate = float(hit.mean()) if len(cases) else 1.0
    return {"name": "label_templates", "cases": len(cases), "rate": rate, "min_rate": min_rate,
            "passed": rate >= min_rate, "per_label": per_label, "failures": failures}


def _switch(kind: str, suite: BehaviourSuite, texts: list[str], labels: list[str]) -> tuple[bool, str]:
    """(on?, why) for one check: the canvas's true/false, or "auto" decided by the data."""
    enabled = getattr(suite, kind).enabled
    if enabled is not True and enabled is not False:  # "auto"
        if kind == "label_templates":
            n = len(suite.label_templates.templates)
            return n > 0, f"auto: the canvas gives templates for {n} label(s)"
        if kind == "negation":
            if suite.positive_label not in labels:
                return False, f"auto: positive_label {suite.positive_label!r} is not a label"
            if suite.negation.pairs is None and not builtins_fit(labels):
                return False, (f"auto: the built-in negation pairs are English sentiment "
                               f"statements and the labels ({', '.join(labels)}) are not "
                               f"negative/neutral/positive; set behaviour.negation.pairs to run it")
            return True, f"auto: positive_label {suite.positive_label!r} is a label"
        check = getattr(suite, kind)
        pattern = pattern_for(kind, check.pool or POOLS[kind])
        hits = sum(1 for t in texts if pattern.search(t))
        return hits > 0, f"auto: {hits} of {len(texts)} test texts contain {WHAT[kind]}"
    return enabled, f"behaviour.{kind}.enabled: {str(enabled).lower()}"


def _skipped(name: str, why: str, min_rate: float, cases: int = 0) -> dict:
    return {"name": name, "cases": cases, "rate": None, "min_rate": min_rate, "passed": True,
            "skipped": why, "failures": []}


def run_suite(predictor, texts: list[str], suite: BehaviourSuite) -> dict:
    """The behavioural checks the canvas ``behaviour`` section switches on, run on ``texts``.

    Every check is listed with the number of cases it built; one that is off, or built fewer
    than ``suite.min_cases``, carries ``skipped`` (why) and does not gate."""
    checks = []
    labels = list(predictor.labels)
    builtin = builtins_fit(labels)
    for kind in ("name", "mention", "url", "negation", "label_templates"):
        conf = getattr(suite, kind)
        default = suite.negation_min_rate if kind == "negation" else suite.invariance_min_rate
        min_rate = default if conf.min_rate is None else conf.min_rate
        name = kind if kind in ("negation", "label_templates") else f"invariance_{kind}"
        on, why = _switch(kind, suite, texts, labels)
        if not on:
            checks.append(_skipped(name, f"off ({why})", min_rate))
            continue
        if kind == "negation":
            cases = negation_cases(conf.pairs, conf.objects)
            n = len(cases[0])
        elif kind == "label_templates":
            cases = label_template_cases(conf)
            n = len(cases)
        else:
            cases = invariance_cases(texts, kind, suite.max_cases, conf, builtin=builtin)
            n = len(cases)
            if not builtin and kind == "name" and conf.templates is None:
                why += " (built-in name templates left out: they are sentiment sentences)"
        if n < suite.min_cases:
            checks.append(_skipped(name, f"{n} cases < behaviour.min_cases {suite.min_cases} "
                                         f"({why})", min_rate, n))
            continue
        if kind == "negation":
            result = negation(predictor, suite.positive_label, min_rate, cases)
        elif kind == "label_templates":
            result = label_templates(predictor, cases, min_rate)
        else:
            result = invariance(predictor, cases, min_rate, kind)
        checks.append({**result, "enabled": why})
    return {"checks": checks, "passed": all(c["passed"] for c in checks), "gate": suite.gate,
            "cases": {c["name"]: c["cases"] for c in checks}}
