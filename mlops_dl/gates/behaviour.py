"""Behavioural tests through the ONNX Predictor (CheckList-style, no labels needed).

Invariance: swapping a person name, an @mention or a URL for another must not change the
label. Directional: negating a positive statement ("I love X" -> "I don't love X") must move
probability mass away from the positive label. Each check returns its figures and failures.
"""

from __future__ import annotations

import random
import re

import numpy as np

NAMES = ["James", "Maria", "Wei", "Aisha", "Carlos", "Olga", "Kenji", "Fatima", "John", "Priya",
         "Emma", "Liam", "Sofia", "Ahmed", "Chloe", "Mateo", "Hana", "David", "Amara", "Lucas"]
HANDLES = ["@jane_doe", "@mike_t", "@newsdesk", "@coffee_lover", "@k_nguyen", "@user"]
URLS = ["https://t.co/a1B2c3", "http://example.com/news/42", "<url>", "www.shop.example/deal"]
MENTION = re.compile(r"(?<![\w@])@\w+")
URL = re.compile(r"(?i)(?:https?://\S+|www\.\S+|<url>)")
NAME = re.compile(r"\b(" + "|".join(NAMES) + r")\b")
NAME_TEMPLATES = ["{name} said the hotel was lovely.", "{name} thinks the new update is terrible.",
                  "Going to see {name} at the concert tonight.",
                  "{name} was late again and I am so annoyed.",
                  "Had dinner with {name}, the food was fine.", "{name} just won the game!"]
POSITIVE = ["I love {x}", "I like {x}", "{x} is great", "{x} was amazing", "I enjoy {x}",
            "I really love {x}"]
NEGATED = ["I don't love {x}", "I don't like {x}", "{x} is not great", "{x} was not amazing",
           "I do not enjoy {x}", "I really don't love {x}"]
OBJECTS = ["this phone", "the new album", "my job", "this airline", "the movie", "the service",
           "this game", "the update", "the food", "the team"]
EXAMPLES = 5  # failing cases quoted per check


def _swap(text: str, pattern: re.Pattern, pool: list[str], rng: random.Random) -> tuple[str, str]:
    """(text with every match set to one pool item, the same with another), or append both."""
    a, b = rng.sample(pool, 2)
    if pattern.search(text):
        return pattern.sub(a, text), pattern.sub(b, text)
    return f"{text} {a}", f"{text} {b}"


def invariance_cases(texts: list[str], kind: str, max_cases: int, seed: int = 0) -> list[tuple[str, str]]:
    """Pairs that differ only in a name / mention / URL."""
    rng = random.Random(seed)
    texts = texts[:max_cases]
    if kind == "mention":
        return [_swap(t, MENTION, HANDLES, rng) for t in texts]
    if kind == "url":
        return [_swap(t, URL, URLS, rng) for t in texts]
    pairs = []
    for t in texts:
        if NAME.search(t):
            a, b = rng.sample(NAMES, 2)
            pairs.append((NAME.sub(a, t), NAME.sub(b, t)))
    for template in NAME_TEMPLATES:  # names are rare in tweets: templates make the check count
        for _ in range(3):
            a, b = rng.sample(NAMES, 2)
            pairs.append((template.format(name=a), template.format(name=b)))
    return pairs[: max_cases + 3 * len(NAME_TEMPLATES)]


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


def negation(predictor, positive_label: str, min_rate: float) -> dict:
    """Share of templates where negation lowers P(positive_label)."""
    pos = [t.format(x=x) for t in POSITIVE for x in OBJECTS]
    neg = [t.format(x=x) for t in NEGATED for x in OBJECTS]
    k = predictor.labels.index(positive_label)
    probs = predictor.predict_proba(pos + neg)  # (2P, L)
    p_pos, p_neg = probs[: len(pos), k], probs[len(pos):, k]  # (P,) each
    lowered = p_neg < p_pos
    failures = [{"a": pos[i], "b": neg[i], "p_a": float(p_pos[i]), "p_b": float(p_neg[i])}
                for i in np.flatnonzero(~lowered)[:EXAMPLES]]
    rate = float(lowered.mean())
    return {"name": "negation", "cases": len(pos), "rate": rate, "min_rate": min_rate,
            "passed": rate >= min_rate, "mean_drop": float((p_pos - p_neg).mean()),
            "positive_label": positive_label, "failures": failures}


def run_suite(predictor, texts: list[str], suite) -> dict:
    """All behavioural checks of the canvas ``behaviour`` section on ``texts``."""
    checks = [invariance(predictor, invariance_cases(texts, kind, suite.max_cases), suite.invariance_min_rate, kind)
              for kind in ("name", "mention", "url")]
    if suite.positive_label in predictor.labels:
        checks.append(negation(predictor, suite.positive_label, suite.negation_min_rate))
    return {"checks": checks, "passed": all(c["passed"] for c in checks), "gate": suite.gate}
