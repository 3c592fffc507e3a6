"""Read the prediction log (JSON lines, rotated to path.1 .. path.N) over a time window.

Malformed lines are counted with their file and line number, never fatal. A record needs
``ts`` (ISO-8601), ``label`` and ``probabilities`` ({label: p}); the rest is optional.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mlops_dl.errors import MlopsError, quoted

MAX_EXAMPLES = 20  # malformed lines quoted in the report (all are counted)


@dataclass
class LogWindow:
    """The valid records inside [since, until), oldest file first, plus the counts."""

    records: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lines: int = 0  # non-empty lines read
    malformed: int = 0
    malformed_examples: list[dict] = field(default_factory=list)
    outside_window: int = 0
    since: str | None = None
    until: str | None = None

    def summary(self) -> dict:
        return {"files": self.files, "lines": self.lines, "records": len(self.records),
                "malformed": self.malformed, "malformed_examples": self.malformed_examples,
                "outside_window": self.outside_window, "since": self.since, "until": self.until}


def parse_time(value: str | None, what: str = "time") -> datetime | None:
    """ISO-8601 -> aware UTC datetime (naive means UTC); None passes through."""
    if value is None or value == "":
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MlopsError(f"{what} {quoted(value)}: not an ISO-8601 time, e.g. 2026-01-31T12:00:00Z") from None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def log_files(pattern: str | Path) -> list[Path]:
    """A log path (or glob) and its rotations, oldest first: path.N, ..., path.1, path."""
    matches = sorted(glob.glob(str(pattern))) if any(c in str(pattern) for c in "*?[") else [str(pattern)]
    out: list[Path] = []
    for base in map(Path, matches):
        rotated = []
        for p in base.parent.glob(glob.escape(base.name) + ".*"):
            m = re.fullmatch(re.escape(base.name) + r"\.([0-9]+)", p.name)
            if m and p.is_file():
                rotated.append((int(m.group(1)), p))
        out += [p for _, p in sorted(rotated, reverse=True)]
        if base.is_file():
            out.append(base)
    unique = list(dict.fromkeys(out))
    if not unique:
        raise MlopsError(f"prediction log {pattern}: no such file (nor rotated {pattern}.1 ...); "
                         f"serve writes it at serve.log_path")
    return unique


def check_record(rec) -> str | None:
    """Why a decoded line is not a prediction record, or None when it is one."""
    if not isinstance(rec, dict):
        return f"not a JSON object ({type(rec).__name__})"
    for key in ("ts", "label", "probabilities"):
        if key not in rec:
            return f"missing field {key!r}"
    probs = rec["probabilities"]
    if not isinstance(probs, dict) or not probs or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in probs.values()):
        return "field 'probabilities' is not a non-empty mapping of label -> number"
    if not isinstance(rec["label"], str) or rec["label"] not in probs:
        return f"field 'label' {quoted(rec['label'])} is not one of the probability labels"
    if "text" in rec and not isinstance(rec["text"], str):
        return "field 'text' is not a string"
    lat = rec.get("latency_ms")
    if lat is not None and (isinstance(lat, bool) or not isinstance(lat, (int, float))):
        return "field 'latency_ms' is not a number"
    if not isinstance(rec["ts"], str):
        return "field 'ts' is not a string"
    return None


def read_window(patterns: list[str | Path] | str | Path, since: str | None = None,
                until: str | None = None) -> LogWindow:
    """Valid records with since <= ts < until from every file of every pattern."""
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    t0, t1 = parse_time(since, "--since"), parse_time(until, "--until")
    if t0 and t1 and t1 <= t0:
        raise MlopsError(f"--until {until} is not after --since {since}")
    win = LogWindow(since=t0.isoformat() if t0 else None, until=t1.isoformat() if t1 else None)
    files = list(dict.fromkeys(p for pat in patterns for p in log_files(pat)))
    win.files = [str(p) for p in files]
    for path in files:
        _read_file(path, t0, t1, win)
    win.records.sort(key=lambda r: r["_t"])
    return win


def _read_file(path: Path, t0: datetime | None, t1: datetime | None, win: LogWindow) -> None:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            win.lines += 1
            try:
                rec = json.loads(raw.decode("utf-8"))
                why = check_record(rec)
                ts = None if why else parse_time(rec["ts"], "ts")
            except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, a >4300-digit integer
                why = f"not valid JSON ({type(e).__name__}: {str(e)[:80]})"
            except MlopsError:
                why = f"field 'ts' {quoted(rec['ts'])} is not an ISO-8601 time"
            if why:
                win.malformed += 1
                if len(win.malformed_examples) < MAX_EXAMPLES:
                    win.malformed_examples.append({"file": str(path), "line": lineno, "reason": why})
                continue
            if (t0 and ts < t0) or (t1 and ts >= t1):
                win.outside_window += 1
                continue
            rec["_t"] = ts
            win.records.append(rec)
