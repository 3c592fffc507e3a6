"""The MLOps cycle as one command, step by step.

data prepare -> train (or search) -> evaluate -> export + register -> bench -> accept -> promote.
Each step records a content fingerprint of its inputs in ``<pipeline.state_dir>/<data.name>.json``;
a step whose fingerprint is unchanged and whose output is still there is skipped, so a second
run of the same config only redoes what changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_dl import config as config_mod
from mlops_dl import files
from mlops_dl.config import Config
from mlops_dl.errors import MlopsError
from mlops_dl.registry import acceptance, layout
from mlops_dl.train import rundir

if TYPE_CHECKING:
    from mlops_dl.registry import open_registry, Registry
Say = Callable[[str], None]
STEPS = ("data", "train", "evaluate", "export", "bench", "accept", "promote")
TRAIN_KEYS_IGNORED = ("run_name", "runs_dir", "progress_bar", "num_workers")


@dataclass
class Step:
    name: str
    status: str = "off"  # ran | skipped | refused | off
    seconds: float = 0.0
    detail: str = ""


@dataclass
class PipelineRun:
    cfg: Config
    config_path: Path
    registry: "Registry | None" = None  # export.registry of the config unless --registry
    force: tuple[str, ...] = ()  # steps to rerun even when unchanged
    say: Say = lambda msg: None
    steps: list[Step] = field(default_factory=list)
    state: dict = field(default_factory=dict)
    run_dir: Path | None = None
    ref: str | None = None


def digest(*parts) -> str:
    """sha256 of the JSON of ``parts`` (sorted keys): a content fingerprint."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def new_run(cfg: Config, config_path: str | Path, registry=None, force: tuple[str, ...] = (),
            say: Say = lambda msg: None) -> PipelineRun:
    """A run whose every step uses one registry: ``registry``, else the config's export.registry."""
    from mlops_dl.registry import open_registry, Registry
    reg = open_registry(registry or cfg.export.registry or None)
    return PipelineRun(cfg, Path(config_path), reg, tuple(force), say)


def run_pipeline(cfg: Config, config_path: str | Path, registry: str | None = None,
                 force: tuple[str, ...] = (), say: Say = lambda msg: None) -> PipelineRun:
    """Run every step in order; a MlopsError in a step stops the cycle (promote refusals don't)."""
    unknown = [s for s in force if s not in STEPS]
    if unknown:
        raise MlopsError(f"--force {', '.join(unknown)}: unknown step (steps: {', '.join(STEPS)})")
    _check_registry_names(cfg)
    p = new_run(cfg, config_path, registry, force, say)
    p.state = _load_state(p)
    for name, fn in (("data", _data), ("train", _train), ("evaluate", _evaluate),
                     ("export", _export), ("bench", _bench), ("accept", _accept),
                     ("promote", _promote)):  # fmt: skip
        step = Step(name)
        p.steps.append(step)
        say(f"[bold]{name}[/]")
        start = time.perf_counter()
        try:
            step.status, step.detail = fn(p)
        finally:
            step.seconds = round(time.perf_counter() - start, 1)
            _save_state(p)
    return p


def _check_registry_names(cfg: Config) -> None:
    """The model name and the promote alias, checked before hours of training need them."""
    from mlops_dl.registry import check_alias, check_name
    what = "registry model name (export.name, else data.name)"
    check_name(cfg.export.name or cfg.data.name, what)
    if cfg.pipeline.canvas:
        check_alias(cfg.pipeline.promote_to, "alias pipeline.promote_to")


# ----------------------------------------------------------------------------- state
def _state_path(p: PipelineRun) -> Path:
    return Path(p.cfg.pipeline.state_dir) / f"{p.cfg.data.name}.json"


def _load_state(p: PipelineRun) -> dict:
    path = _state_path(p)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        p.say(f"[yellow]{path} is not valid JSON: every step reruns[/]")
        return {}


def _save_state(p: PipelineRun) -> None:
    path = _state_path(p)
    p.state["steps"] = [vars(s) for s in p.steps]
    files.write_json(path, p.state)


def _unchanged(p: PipelineRun, step: str, key: str) -> bool:
    return step not in p.force and p.state.get(step, {}).get("key") == key


def _record(p: PipelineRun, step: str, key: str, **values) -> None:
    p.state[step] = {"key": key, **values}


# ----------------------------------------------------------------------------- steps
def _data(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.data import output_path, prepare
    from mlops_dl.data.sources import locate_source, resolve_path

    cfg, config_dir = p.cfg, p.config_path.resolve().parent
    inputs = []
    for i, src in enumerate(cfg.data.sources):
        if src.kind == "hub":
            inputs.append(f"hub:{src.hub_id}/{src.hub_config}")  # no content hash: always rerun
            p.force = (*p.force, "data")
            continue
        inputs.append(files.sha256_file(locate_source(src, i, config_dir)))
        if src.kind == "text_labels":
            labels = resolve_path(src.labels_path, config_dir, f"data.sources[{i}].labels_path")
            inputs.append(files.sha256_file(labels))
    key = digest(config_mod.to_dict(cfg.data), cfg.model.name, inputs)
    out = output_path(cfg)
    if _unchanged(p, "data", key) and (out / "data_card.json").is_file():
        return "skipped", f"{out} (sources and data config unchanged)"
    prepare(cfg, p.config_path, progress=p.say)
    _record(p, "data", key, output=str(out))
    return "ran", str(out)


def _train_key(p: PipelineRun) -> str:
    from mlops_dl.data import load_prepared, output_path

    train = {k: v for k, v in config_mod.to_dict(p.cfg.train).items() if k not in TRAIN_KEYS_IGNORED}
    search = config_mod.to_dict(p.cfg.search) if p.cfg.pipeline.search else None
    fingerprints = load_prepared(output_path(p.cfg)).fingerprints
    return digest(fingerprints, config_mod.to_dict(p.cfg.model), train, search)


def _train(p: PipelineRun) -> tuple[str, str]:
    key = _train_key(p)
    previous = p.state.get("train", {})
    if _unchanged(p, "train", key) and rundir.is_finished(previous.get("run_dir", "")):
        p.run_dir = Path(previous["run_dir"])
        return "skipped", f"{p.run_dir} (data fingerprints and train config unchanged)"
    if p.cfg.pipeline.search:
        from mlops_dl.search.study import run_search

        # one study per recipe (like the run dir below): a changed config starts a new study,
        # an unchanged one resumes its own (a killed pipeline keeps its finished trials)
        name = f"{p.cfg.search.study_name}-{key[:10]}"
        search = run_search(config_mod.replace(p.cfg, {"search.study_name": name}))
        p.run_dir = Path(search.winner["run_dir"])
        detail = f"{p.run_dir} (winner of {search.study.study_name}, trial {search.winner['trial']})"
    else:
        from mlops_dl.train.fitting import fit

        # a killed run of this same recipe resumes: its run dir is recorded as soon as it exists
        started = p.state.get("train_started", {})
        resume = (Path(started["run_dir"]) if started.get("key") == key and "train" not in p.force
                  and rundir.has_checkpoint(started.get("run_dir", "")) else None)

        def note(run_dir: Path) -> None:
            p.state["train_started"] = {"key": key, "run_dir": str(run_dir)}
            _save_state(p)

        result = fit(p.cfg, resume=resume, on_run_dir=note, command="pipeline",
                     config_path=p.config_path)
        p.run_dir = Path(result.run_dir)
        detail = (f"{p.run_dir}: {result.global_step} steps, best val macro-F1 "
                  f"{result.best_score or 0:.4f}" + (" (resumed)" if resume else ""))
    _record(p, "train", key, run_dir=str(p.run_dir))
    return "ran", detail


def _evaluate(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.train.evaluate import evaluate_run

    key = digest(str(p.run_dir), p.state.get("train", {}).get("key"))
    if _unchanged(p, "evaluate", key):
        m = rundir.read_metrics(p.run_dir)
        if "test" in m and "baseline" in m:
            return "skipped", _f1_line(m)
    m = evaluate_run(p.run_dir, split="test")
    _record(p, "evaluate", key)
    return "ran", _f1_line(m)


def _f1_line(m: dict) -> str:
    base = m.get("baseline", {}).get("test", {}).get("macro_f1", float("nan"))
    return f"test macro-F1 (PyTorch) {m['test']['macro_f1']:.4f} (TF-IDF baseline {base:.4f})"


def _export(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.export.run import export_run

    weights = rundir.model_weights(p.run_dir)
    key = digest([files.sha256_file(w) for w in weights], config_mod.to_dict(p.cfg.export))
    previous = p.state.get("export", {})
    if _unchanged(p, "export", key):
        try:
            p.ref = p.registry.get(previous["ref"], verify=True).ref
            return "skipped", f"{p.ref} (same weights and export config, verified)"
        except MlopsError as e:
            p.say(f"[yellow]registered version is not usable ({e}); exporting again[/]")
    result = export_run(p.run_dir, name=p.cfg.export.name, registry=p.registry,
                        overrides=export_overrides(p.cfg), log=p.say)
    p.ref = result.version.ref
    _record(p, "export", key, ref=p.ref)
    checks = result.validation["variants"]
    figures = ", ".join(f"{v}: max|dlogit| {c.get('max_abs_logit_diff', float('nan')):.2e}"
                        for v, c in checks.items())
    return "ran", f"{p.ref} ({figures})"


def export_overrides(cfg: Config) -> list[str]:
    """The pipeline's own export section as --set overrides on the run's config.yaml: the
    export step follows the pipeline config (and its --set), not the config the run trained with."""
    return [f"export.{k}={json.dumps(v)}" for k, v in config_mod.to_dict(cfg.export).items()]


def _bench(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.bench.run import run_bench

    if not p.cfg.pipeline.bench:
        return "off", "pipeline.bench is false"
    mv = p.registry.get(p.ref, verify=False)
    if "bench" not in p.force and mv.attachment(layout.BENCH):
        return "skipped", f"{p.ref} already has bench.json"
    canvas = _canvas(p)
    report = run_bench(p.ref, registry=p.registry, limit=p.cfg.pipeline.bench_limit,  # frozen test split
                       torch_baseline=p.cfg.pipeline.bench_torch_baseline,
                       budget_ms=canvas.latency.p95_ms if canvas else None)
    ratios = report.get("ratios", {})
    return "ran", ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()
                            if isinstance(v, (int, float))) or "measured"


def _canvas(p: PipelineRun):
    from mlops_dl.gates.canvas import load_canvas

    return load_canvas(p.cfg.pipeline.canvas) if p.cfg.pipeline.canvas else None


def _accept(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.gates.accept import ATTACHMENT, accept
    from mlops_dl.data import output_path

    canvas = _canvas(p)
    if canvas is None:
        return "off", "no pipeline.canvas"
    reg = p.registry
    stored = acceptance.parse(reg.get(p.ref, verify=False).attachment(ATTACHMENT))
    if ("accept" not in p.force and stored and not stored.legacy
            and stored.raw.get("canvas_sha256") == canvas.sha256):
        result, status = stored.raw, "skipped"
    else:
        result, status = accept(reg, p.ref, canvas, data_dir=output_path(p.cfg)), "ran"
    key = result.get("canvas_servable")
    row = result["servables"].get(key) or next(iter(result["servables"].values()))
    failed = [c["name"] for c in row["checks"] if not c["passed"]]
    verdict = "ACCEPTED" if result["passed"] else f"REJECTED ({', '.join(failed) or 'behaviour'})"
    return status, (f"{verdict}: test macro-F1 ({row['engine']} {row['variant']}, "
                    f"{result['n_test']} texts) {row['metrics']['macro_f1']:.4f}; accepted "
                    f"servables: {', '.join(result['accepted']) or 'none'}")


def _promote(p: PipelineRun) -> tuple[str, str]:
    from mlops_dl.data import output_path
    from mlops_dl.gates.promote import REFUSED_EXIT, promote

    canvas = _canvas(p)
    if canvas is None:
        return "off", "no pipeline.canvas"
    try:
        decision = promote(p.registry, p.ref, canvas, to=p.cfg.pipeline.promote_to,
                           data_dir=output_path(p.cfg))
    except MlopsError as e:
        if e.exit_code != REFUSED_EXIT:
            raise
        return "refused", str(e)
    return "ran", f"{p.ref} -> @{decision['alias']}: {decision['decision']}"
