"""`mlops-dl predict | serve`: score files, serve HTTP. No torch on these paths."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl import config as config_mod
from mlops_dl.cli.common import (JsonOpt, RefArg, RegistryOpt, SetOpt, canvas_latency_budget,
                                 echo_json, load_config, make_console, open_registry)
from mlops_dl.errors import ConfigError
from mlops_dl.runtime.variants import ENGINES, PROVIDERS, VARIANTS

console = make_console()
ProviderOpt = Annotated[str, typer.Option("--provider", help=f"{', '.join(PROVIDERS)}.")]
VariantOpt = Annotated[str, typer.Option("--variant", help=f"Variant: {', '.join(VARIANTS)} or "
                                          "auto (int8 = the engine's batch-invariant int8; "
                                          "int8-dynamic varies with the batch).")]
EngineOpt = Annotated[str, typer.Option("--engine", help=f"{', '.join(ENGINES)} or auto (the "
                                        "fastest accepted servable on this machine).")]


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
    app.command("serve")(serve)


def serve_config(config: Optional[Path], sets: Optional[list[str]]) -> config_mod.ServeConfig:
    """The serve section: from --config (+ --set), or defaults + --set serve.* keys."""
    if config is not None:
        return load_config(config, sets).serve
    raw: dict = {}
    for item in sets or ():
        if not item.startswith("serve."):
            raise ConfigError(f"--set {item}: without --config only serve.* keys can be set")
        config_mod.apply_override(raw, item)
    return config_mod.build_section(config_mod.ServeConfig, raw.get("serve", {}), "--set", "serve.")


def predict(
    ref: RefArg,
    input: Annotated[str, typer.Option("--input", "-i", help="csv, tsv, jsonl or parquet file "
                                       "(--executor ray: also a folder or a glob).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="csv, tsv, jsonl or parquet "
                                         "file (--executor ray: a parquet dataset folder).")],
    text_column: Annotated[str, typer.Option("--text-column", help="Column with the text.")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first malformed row.")] = False,
    registry: RegistryOpt = None,
    provider: ProviderOpt = "auto",
    variant: VariantOpt = "int8",
    engine: EngineOpt = "onnxruntime",
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Rows read per chunk.")] = 8192,
    executor: Annotated[str, typer.Option("--executor", help="Where rows are scored: local (this "
                        "process, streaming) or ray (Ray Data actors; extra 'ray'). Not --engine: "
                        "that names the inference engine.")] = "local",
    address: Annotated[str, typer.Option("--address", envvar="RAY_ADDRESS", help="Ray: local "
                       "(start one here), auto (this node's cluster) or ray://host:10001.")] = "local",
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", help="Ray: actors, one "
                           "Predictor each (default: cluster CPUs / --cpus-per-actor).")] = None,
    cpus_per_actor: Annotated[float, typer.Option("--cpus-per-actor", help="Ray: CPUs per actor "
                              "= its onnxruntime threads.")] = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Ray: rows per actor call.")] = 512,
    as_json: JsonOpt = False,
) -> None:
    """Score a file: the same rows out, plus pred_label, pred_score, pred_model, pred_error."""
    if executor == "ray":
        _predict_ray(ref, input, output, text_column, strict, registry, provider, variant,
                     engine, chunk_rows, address, concurrency, cpus_per_actor, batch_size,
                     as_json)
        return
    if executor != "local":
        raise ConfigError(f"--executor {executor!r}: expected local or ray")
    if concurrency is not None:
        raise ConfigError("--concurrency applies to --executor ray only")
    if not Path(input).is_file() and (Path(input).is_dir() or glob.has_magic(input)):
        raise ConfigError(f"--input {input}: a folder or glob needs --executor ray; "
                          "--executor local scores one file")
    input = Path(input)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mlops_dl.runtime import from_registry, Predictor
    from mlops_dl.serve.scoring import score_file

    predictor = from_registry(ref, registry, provider=provider, variant=variant,
                                        engine=engine)
    if predictor.choice:
        console.print(f"[dim]auto: {predictor.choice['reason']}[/]", highlight=False)
    columns = (TextColumn("[bold]scoring[/] {task.description}"), BarColumn(),
               TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=make_console(stderr=True), disable=as_json) as bar:
        task = bar.add_task(f"{input.name} with {predictor.ref} ({predictor.variant})", total=None)
        summary = score_file(predictor, input, output, text_column, strict, chunk_rows,
                             progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
    result = {"input": str(input), "output": summary.output, "model": summary.model,
              "variant": predictor.variant, "servable": predictor.servable.label,
              "rows": summary.rows, "scored": summary.scored,
              "malformed": len(summary.malformed), "labels": summary.labels,
              "malformed_rows": [{"row": r, "reason": why} for r, why in summary.malformed[:100]]}
    if as_json:
        echo_json(result)
        return
    console.print(f"[green]wrote[/] {summary.output}: {summary.scored}/{summary.rows} rows "
                  f"scored by {summary.model} ({predictor.variant}); labels {summary.labels}")
    if summary.malformed:
        console.print(f"[yellow]{len(summary.malformed)} malformed row(s) not scored[/], kept in "
                      "the output with pred_error saying why:")
        for row, why in summary.malformed[:20]:
            console.print(f"  row {row}: {why}")
        if len(summary.malformed) > 20:
            console.print(f"  ... and {len(summary.malformed) - 20} more")


def _predict_ray(ref, input, output, text_column, strict, registry, provider, variant, engine,
                 chunk_rows, address, concurrency, cpus_per_actor, batch_size, as_json) -> None:
    """predict --executor ray: a parquet dataset folder scored by Ray Data actors."""
    from mlops_dl.serve.ray_scoring import score_on_ray  # MlopsError naming the extra if absent

    summary = score_on_ray(ref, input, output, registry=registry, text_column=text_column,
                           strict=strict, variant=variant, provider=provider, engine=engine,
                           address=address,
                           concurrency=concurrency, cpus_per_actor=cpus_per_actor,
                           batch_size=batch_size, chunk_rows=chunk_rows)
    result = {"input": str(input), "output": summary.output, "model": summary.model,
              "servable": summary.servable, "executor": "ray", "files": summary.files,
              "actors": summary.actors, "cpus_per_actor": summary.cpus_per_actor,
              "seconds": round(summary.seconds, 3), "rows": summary.rows,
              "scored": summary.scored, "malformed": len(summary.malformed),
              "labels": summary.labels,
              "malformed_rows": [{"file": f, "row": r, "reason": why}
                                 for f, r, why in summary.malformed[:100]]}
    if as_json:
        echo_json(result)
        return
    console.print(f"[green]wrote[/] {summary.output}/: {summary.scored}/{summary.rows} rows of "
                  f"{summary.files} files scored by {summary.model} ({summary.servable}) on "
                  f"{summary.actors} Ray actors x {summary.cpus_per_actor:g} CPU in "
                  f"{summary.seconds:.1f} s; labels {summary.labels}")
    if summary.malformed:
        console.print(f"[yellow]{len(summary.malformed)} malformed rows kept[/] (pred_error "
                      "column says why):")
    for f, row, why in summary.malformed[:20]:
        console.print(f"  {f} row {row}: {why}")
    if len(summary.malformed) > 20:
        console.print(f"  ... and {len(summary.malformed) - 20} more")


def serve(
    ref: RefArg,
    host: Annotated[Optional[str], typer.Option("--host", help="Bind address (default "
                                                "127.0.0.1, serve.host).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (serve.port).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Worker processes "
                                                   "(serve.workers).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config "
                                                   "file; its serve section is used.")] = None,
    sets: SetOpt = None,
    registry: RegistryOpt = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback --host "
                                           "without serve.token (serve.allow_anonymous).")] = False,
    engine: Annotated[Optional[str], typer.Option("--engine", help=f"{', '.join(ENGINES)} or "
                                                  "auto (serve.engine).")] = None,
    variant: Annotated[Optional[str], typer.Option("--variant", help=f"{', '.join(VARIANTS)} or "
                                                   "auto (serve.variant).")] = None,
) -> None:
    """Serve REF over HTTP: POST /v1/predict, /healthz, /readyz, /metrics, /docs; hot swap."""
    import dataclasses

    from mlops_dl.serve.app import run_server
    from mlops_dl.serve.server import check_exposure

    cfg = serve_config(config, sets)
    given = {"host": host, "port": port, "workers": workers, "allow_anonymous": insecure or None,
             "engine": engine, "variant": variant}
    given = {k: v for k, v in given.items() if v is not None}
    if given:  # validated like the config file (a bad --engine names the key)
        cfg = config_mod.build_section(config_mod.ServeConfig, {**dataclasses.asdict(cfg),
                                                                **given}, "command line", "serve.")
    check_exposure(cfg)  # refused before loading anything; run_server logs the warning
    reg = open_registry(registry)
    mv = reg.get(ref, verify=True)  # fail fast, with a clear message
    cfg = with_latency_budget(cfg, mv)
    console.print(f"serving [bold]{ref}[/] (now {mv.ref}, {cfg.engine} {cfg.variant}) on "
                  f"http://{cfg.host}:{cfg.port}  docs: /docs  workers: {cfg.workers}")
    run_server(cfg, ref, str(reg.root))  # resolved once: every worker opens the same root


def with_latency_budget(cfg: config_mod.ServeConfig, mv) -> config_mod.ServeConfig:
    """``cfg`` with serve.latency_budget_ms from the canvas when it is 0 and ``auto`` chooses."""
    import dataclasses

    if cfg.latency_budget_ms or "auto" not in (cfg.engine, cfg.variant):
        return cfg
    budget = canvas_latency_budget(mv, console)
    return dataclasses.replace(cfg, latency_budget_ms=budget) if budget else cfg
