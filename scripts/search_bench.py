"""Pruning benchmark: a pruned search against an unpruned one with the same trial count.

Run the two searches first (same config, same trials), then compare their study folders:

  mlops-dl search --config configs/tweeteval-search.yaml --trials 12
  mlops-dl search --config configs/tweeteval-search.yaml --trials 12 \
      --set search.pruner=none --set search.study_name=tweeteval-nopruning \
      --set search.retrain_winner=false
  mlops-dl train --config configs/tweeteval.yaml        # the default config, for the gap
  mlops-dl evaluate runs/tweeteval-minilm-b --split test
  python scripts/search_bench.py --pruned studies/tweeteval --full studies/tweeteval-nopruning \
      --default-run runs/tweeteval-minilm-b

Prints each study's best validation macro-F1 and training steps, the targets (same best F1
within 0.5 pt at most half the steps; searched test macro-F1 >= default + 2 pts), and median
pruners replayed on the unpruned study's full curves (same sampled trials, only the pruner
differs). ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import optuna

from mlops_dl import config as config_mod
from mlops_dl.search import bench
from mlops_dl.search.storage import make_pruner


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per in-memory replay study
    try:
        full, full_cfg = _load(args.full)
        pruned, pruned_cfg = _load(args.pruned)
        interval = _steps_per_check(full_cfg)
    except (OSError, KeyError, ValueError, config_mod.ConfigError) as e:
        print(f"search_bench: {e}", file=sys.stderr)
        return 2
    out = {
        "pruned": asdict(bench.study_figures(pruned)),
        "full": asdict(bench.study_figures(full)),
        "pruned_test": _test_f1(args.pruned / "winner.json"),
        "full_test": _test_f1(args.full / "winner.json"),
        "default_test": _test_f1(args.default_run / "metrics.json") if args.default_run else None,
    }
    out["targets"] = _targets(out)
    out["replays"] = _replays(full, pruned_cfg, interval)
    print(json.dumps(out, indent=2) if args.json else _text(out))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pruned", type=Path, required=True, help="study folder of the pruned search")
    p.add_argument("--full", type=Path, required=True, help="study folder without pruning")
    p.add_argument("--default-run", type=Path, help="run dir of the default config (evaluated)")
    p.add_argument("--json", action="store_true")
    return p


def _load(folder: Path) -> tuple[optuna.Study, config_mod.Config]:
    """The study in ``folder/study.db`` (named like its folder) and its base config."""
    db = folder / "study.db"
    if not db.is_file():
        raise OSError(f"{db}: no study database (is {folder} a study folder?)")
    cfg = config_mod.load(folder / "base_config.yaml")
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{db.resolve()}")
    return study, cfg


def _steps_per_check(cfg: config_mod.Config) -> int:
    interval = cfg.train.val_check_interval
    if isinstance(interval, int) or float(interval) > 1:
        return int(interval)
    raise ValueError("the replay needs validation checks every N steps (train.val_check_interval"
                     f" > 1); the unpruned study's base_config.yaml has {interval}")  # fmt: skip


def _replays(full: optuna.Study, pruned_cfg: config_mod.Config, interval: int) -> list[dict]:
    """The pruned study's own pruner, then median pruners with 0-3 warm-up checks."""
    search = pruned_cfg.search
    settings = [("as configured", search)]
    for warmup in range(4):
        if search.pruner == "median" and warmup == search.prune_warmup_checks:
            continue  # the configured row already shows it
        changed = config_mod.replace(pruned_cfg, {"search.pruner": "median",
                                                  "search.prune_warmup_checks": warmup})  # fmt: skip
        settings.append((f"median, warm-up {warmup}", changed.search))
    rows = []
    for label, s in settings:
        r = bench.replay(full, make_pruner(s), interval)
        rows.append({
            "pruner": f"{label} ({s.pruner}, startup {s.prune_startup_trials}, "
                      f"warm-up {s.prune_warmup_checks})",
            "steps": r.total_steps, "full_steps": r.full_steps, "ratio": r.step_ratio,
            "best_value": r.best_value, "keeps_winner": r.keeps_winner,
            "pruned_at": r.pruned_at,
        })  # fmt: skip
    return rows


def _targets(out: dict) -> dict:
    p, f = out["pruned"], out["full"]
    t: dict = {}
    if p["best_value"] is not None and f["best_value"] is not None and f["steps"]:
        t["best_f1_gap_pts"] = 100 * (p["best_value"] - f["best_value"])
        t["step_ratio"] = p["steps"] / f["steps"]
        t["pruning_met"] = abs(t["best_f1_gap_pts"]) <= 0.5 and t["step_ratio"] <= 0.5
    if out["pruned_test"] is not None and out["default_test"] is not None:
        t["search_gain_pts"] = 100 * (out["pruned_test"] - out["default_test"])
        t["search_met"] = t["search_gain_pts"] >= 2.0
    return t


def _test_f1(path: Path) -> float | None:
    """Test macro-F1 from a study's winner.json or an evaluated run's metrics.json."""
    try:
        return json.loads(path.read_text())["test"]["macro_f1"]
    except (OSError, KeyError, ValueError):
        return None


def _text(out: dict) -> str:
    lines = ["study                finished pruned failed  steps  best val F1  winner test F1"]
    for key in ("pruned", "full"):
        s = out[key]
        best = f"{s['best_value']:.4f} (t{s['best_number']})" if s["best_value"] is not None else "-"
        test = f"{out[key + '_test']:.4f}" if out[key + "_test"] is not None else "-"
        lines.append(f"{s['name']:<20} {s['finished']:>8} {s['pruned']:>6} {s['failed']:>6} "
                     f"{s['steps']:>6}  {best:<15}  {test}")  # fmt: skip
    if out["default_test"] is not None:
        lines.append(f"default config test macro-F1: {out['default_test']:.4f}")
    lines.append("targets: " + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                          for k, v in out["targets"].items()}))  # fmt: skip
    lines.append("replayed on the unpruned study's curves (same trials, only the pruner differs):")
    for r in out["replays"]:
        cut = {n: c for n, c in r["pruned_at"].items() if c is not None}
        best = f"{r['best_value']:.4f}" if r["best_value"] is not None else "-"
        lines.append(f"  {r['pruner']}: steps {r['steps']}/{r['full_steps']} "
                     f"({r['ratio']:.2f}), best {best}, keeps winner {r['keeps_winner']}, "
                     f"cut trial:check {cut}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
