"""``mlops-dl train``, ``mlops-dl evaluate`` and ``mlops-dl bench-train``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, SetOpt, load_config, make_console
from mlops_dl.errors import MlopsError

console = make_console()

OptionalConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="YAML config file (with --resume: the run's config.yaml)."),
]
ResumeOpt = Annotated[
    Optional[Path], typer.Option("--resume", help="Continue this run dir from its last.ckpt.")
]
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="local: this machine (train.devices/strategy); ray: Ray Train workers.")]
AddressOpt = Annotated[str, typer.Option(
    "--address", help="--executor ray: local (start Ray here), auto (a running cluster) or ray://host:10001.")]
RayWorkersOpt = Annotated[int, typer.Option("--workers", help="--executor ray: training workers (DDP ranks).")]
CpusOpt = Annotated[float, typer.Option("--cpus-per-worker", help="--executor ray: CPUs each worker holds.")]
GpusOpt = Annotated[float, typer.Option("--gpus-per-worker", help="--executor ray: GPUs each worker holds.")]
StorageOpt = Annotated[str, typer.Option(
    "--storage-path", help="--executor ray: Ray Train's checkpoint storage, a shared folder or s3:// "
                           "(default: <run dir>/ray).")]


def train(
    config: OptionalConfigOpt = None,
    set_: SetOpt = None,
    resume: ResumeOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = "local",
    workers: RayWorkersOpt = 2,
    cpus_per_worker: CpusOpt = 1.0,
    gpus_per_worker: GpusOpt = 0.0,
    storage_path: StorageOpt = "",
    json_: JsonOpt = False,
) -> None:
    """Fine-tune the configured model on the prepared data; writes runs/<run-id>/."""
    if executor not in ("local", "ray"):
        raise MlopsError(f"--executor {executor!r}: choose local or ray")
    if executor == "ray" and resume is not None:
        raise MlopsError("--resume continues a local run; a Ray Train run restarts its failed "
                         "workers itself (start it again to retrain)")  # fmt: skip
    if config is None:
        if resume is None:
            raise MlopsError("train needs --config (or --resume RUN_DIR to continue a run)")
        from mlops_dl.train import rundir

        config = resume / rundir.CONFIG
    cfg = load_config(config, set_)

    def announce(run_dir: Path) -> None:  # first, so a killed run can be found and resumed
        out = make_console(stderr=True) if json_ else console
        hint = f" (if interrupted: mlops-dl train --resume {run_dir})" if executor == "local" else ""
        out.print(f"run dir: {run_dir}{hint}", highlight=False, soft_wrap=True)

    if executor == "ray":
        from mlops_dl.train.ray_train import RayPlan, fit_on_ray

        plan = RayPlan(address, workers, cpus_per_worker, gpus_per_worker, storage_path)
        result = fit_on_ray(cfg, plan, on_run_dir=announce)
    else:
        from mlops_dl.train.fitting import fit

        result = fit(cfg, resume=resume, on_run_dir=announce, config_path=config)
    if not result.is_global_zero:  # the other DDP ranks: rank 0 prints the summary
        return
    best = None if result.best_score is None else round(float(result.best_score), 4)
    summary = {"run_dir": str(result.run_dir), "best_val_macro_f1": best,
               "global_step": result.global_step, "resumed_from_step": result.resumed_from_step,
               "duration_s": result.duration_s, "world_size": result.world_size,
               "effective_batch_size": result.effective_batch_size}  # fmt: skip
    if result.tracking:
        summary["mlflow_run"] = result.tracking.get("url") or result.tracking.get("run_id")
        if result.tracking.get("logging_errors"):
            summary["mlflow_logging_errors"] = result.tracking["logging_errors"]
    if json_:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        console.print(f"[bold]{key}[/]: {value}")
    console.print(f"next: mlops-dl evaluate {result.run_dir} --split test")


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run dir written by `mlops-dl train`.")],
    split: Annotated[str, typer.Option("--split", help="train, validation or test.")] = "test",
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Also score TF-IDF+LR.")] = True,
    json_: JsonOpt = False,
) -> None:
    """Score a run (and the TF-IDF baseline) on validation and SPLIT; writes metrics and plots."""
    from mlops_dl.train.evaluate import evaluate_run

    result = evaluate_run(run_dir, split=split, baseline=baseline)
    if json_:
        typer.echo(json.dumps({k: result[k] for k in ("validation", split, "baseline", "comparison") if k in result}))
        return
    console.print(report_table(result, split))
    console.print(per_class_table(result, split))
    if "comparison" in result:
        c = result["comparison"][split]
        console.print(f"McNemar model vs baseline on {split}: model-only right {c['a_right_b_wrong']}, "
                      f"baseline-only right {c['a_wrong_b_right']}, p = {c['p_value']:.3g}")  # fmt: skip
    console.print(f"wrote {run_dir}/metrics.json, confusion_{split}.png, learning_curves.png")


def report_table(result: dict, split: str) -> Table:
    """Model and baseline side by side, one column per (system, split)."""
    columns = [("model", s, result[s]) for s in dict.fromkeys(["validation", split])]
    for s in dict.fromkeys(["validation", split]):
        if s in result.get("baseline", {}):
            columns.append(("TF-IDF+LR", s, result["baseline"][s]))
    table = Table(title=f"evaluation ({split})")
    table.add_column("metric")
    for system, s, _ in columns:
        table.add_column(f"{system}\n{s}", justify="right")
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1"):
        table.add_row(key, *[f"{rep[key]:.4f}" for _, _, rep in columns])
    table.add_row("n", *[str(rep["n"]) for _, _, rep in columns])
    return table


def per_class_table(result: dict, split: str) -> Table:
    table = Table(title=f"per class ({split}): model | baseline")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    base = result.get("baseline", {}).get(split, {}).get("per_class", {})
    for label, m in result[split]["per_class"].items():
        b = base.get(label)
        cell = lambda k: f"{m[k]:.3f}" + (f" | {b[k]:.3f}" if b else "")  # noqa: E731
        table.add_row(label, cell("precision"), cell("recall"), cell("f1"), str(m["support"]))
    return table


def bench_train(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")],
    set_: SetOpt = None,
    steps: Annotated[int, typer.Option(help="Measured optimizer steps per variant.")] = 12,
    warmup: Annotated[int, typer.Option(help="Unmeasured steps before timing.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    repeats: Annotated[int, typer.Option(help="Interleaved repeats of each variant.")] = 2,
    f1_model: Annotated[Optional[Path], typer.Option(help="A run's model/ dir: fp32 vs bf16 macro-F1.")] = None,
    variant: Annotated[Optional[list[str]], typer.Option(help="Only these variants (repeatable).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the results as JSON here.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Training throughput: plain PyTorch vs Lightning, fp32 vs bf16, padding strategies."""
    from mlops_dl.train.throughput import run_bench

    cfg = load_config(config, set_)
    result = run_bench(cfg, steps=steps, warmup=warmup, batch_size=batch_size, repeats=repeats,
                       f1_model=f1_model, variants=variant)  # fmt: skip
    if out is not None:
        from mlops_dl import files

        files.write_json(out, result)
    if json_:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"training throughput ({result['device']}, batch {batch_size})")
    for col in ("variant", "samples/s", "tokens/s", "s/step"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, v in result["variants"].items():
        table.add_row(name, f"{v['samples_per_s']:.1f}", f"{v['tokens_per_s']:.0f}", f"{v['s_per_step']:.3f}")
    console.print(table)
    for name, value in result["ratios"].items():
        console.print(f"{name}: {value:.3f}")
    if "bf16_f1" in result:
        console.print(f"macro-F1 fp32 vs bf16 autocast: {result['bf16_f1']}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("bench-train")(bench_train)
