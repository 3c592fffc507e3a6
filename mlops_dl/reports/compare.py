"""Registry comparison report: mlops_dl.gates.compare's tables and bar chart for two versions."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlops_dl.gates.compare import compare, write_png
from mlops_dl.reports.html import img, kv_table, page, table


def _rows(rows: list[dict]) -> list[list]:
    return [[r["key"], r["a"], r["b"], r["delta"] if r["delta"] is not None else ""] for r in rows]


def compare_report(registry, ref_a: str, ref_b: str) -> str:
    """HTML comparing ``ref_a`` (A) with ``ref_b`` (B): metrics, per-class F1, checks, McNemar."""
    result = compare(registry, ref_a, ref_b)
    a, b = result["a"]["ref"], result["b"]["ref"]
    head = ["key", f"A {a}", f"B {b}", "B - A"]
    sections = [("Versions", table(["", f"A {a}", f"B {b}"], [
        [k, str(result["a"].get(k)), str(result["b"].get(k))]
        for k in ("created", "run_id", "base_model", "opset", "optimized", "size_bytes")]))]
    for split in ("validation", "test"):
        if result["metrics"][split]:
            sections.append((f"Metrics ({split})", table(head, _rows(result["metrics"][split]))))
    if result["per_class_f1"]:
        sections.append(("Per-class F1 (test)", table(head, _rows(result["per_class_f1"]))))
    samples = result["samples"]
    if samples.get("n_shared"):
        t = samples["mcnemar"]
        sections.append(("Same texts: agreement and McNemar", kv_table({
            "shared validation texts": samples["n_shared"], "label agreement": samples["agreement"],
            f"accuracy A ({result['variant']})": samples["accuracy_a"],
            f"accuracy B ({result['variant']})": samples["accuracy_b"],
            "A right, B wrong": t["a_right_b_wrong"], "A wrong, B right": t["a_wrong_b_right"],
            "McNemar p-value": t["p_value"]})))
    if result["validation"]:
        sections.append(("Export checks", table(head, _rows(result["validation"]))))
    if result["bench"]:
        sections.append(("Benchmarks", table(head, _rows(result["bench"]))))
    with tempfile.TemporaryDirectory() as tmp:
        png = write_png(result, Path(tmp) / "compare.png")
        sections.insert(1, ("Chart", img(png, f"{a} vs {b}")))
    return page(f"Compare {a} vs {b}", f"registry {registry.root}", sections)
