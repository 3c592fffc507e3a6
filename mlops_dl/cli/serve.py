"""`mlops-dl predict | serve | bench`: score files, serve HTTP, measure. No torch on these paths
(bench imports it lazily for the PyTorch baseline only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl import config as config_mod
from mlops_dl.cli.common import JsonOpt, SetOpt, load_config, make_console
from mlops_dl.errors import ConfigError

console = make_console()
RefArg = Annotated[str, typer.Argument(help="Model reference: name, name:3 or name@production.")]
RegistryOpt = Annotated[
    Optional[str],
    typer.Option("--registry", "-r", envvar="MLOPS_DL_REGISTRY",
                 help="Registry root: a folder or s3://bucket/prefix (default: $MLOPS_DL_REGISTRY, then the project's mlops-dl.yaml / pyproject.toml, then ./registry)."),
]
ProviderOpt = Annotated[str, typer.Option("--provider", help="auto, cpu or cuda.")]
VariantOpt = Annotated[str, typer.Option("--variant", help="ONNX variant: int8 or fp32.")]


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
    app.command("serve")(serve)
    app.command("bench")(bench)


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
    input: Annotated[Path, typer.Option("--input", "-i", help="csv, jsonl or parquet file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="csv, jsonl or parquet file.")],
    text_column: Annotated[str, typer.Option("--text-column", help="Column with the text.")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first malformed row.")] = False,
    registry: RegistryOpt = None,
    provider: ProviderOpt = "auto",
    variant: VariantOpt = "int8",
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Rows read per chunk.")] = 8192,
    as_json: JsonOpt = False,
) -> None:
    """Score a file: the same rows out, plus pred_label, pred_score, pred_model, pred_error."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mlops_dl.runtime import Predictor
    from mlops_dl.serve.scoring import score_file

    predictor = Predictor.from_registry(ref, registry, provider=provider, variant=variant)
    columns = (TextColumn("[bold]scoring[/] {task.description}"), BarColumn(),
               TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=make_console(stderr=True), disable=as_json) as bar:
        task = bar.add_task(f"{input.name} with {predictor.ref} ({predictor.variant})", total=None)
        summary = score_file(predictor, input, output, text_column, strict, chunk_rows,
                             progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
    result = {"input": str(input), "output": summary.output, "model": summary.model,
              "variant": predictor.variant, "rows": summary.rows, "scored": summary.scored,
              "malformed": len(summary.malformed), "labels": summary.labels,
              "malformed_rows": [{"row": r, "reason": why} for r, why in summary.malformed[:100]]}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(f"[green]wrote[/] {summary.output}: {summary.scored}/{summary.rows} rows "
                  f"scored by {summary.model} ({predictor.variant}); labels {summary.labels}")
    if summary.malformed:
        console.print(f"[yellow]{len(summary.malformed)} malformed rows skipped[/] "
                      "(pred_error column says why):")
        for row, why in summary.malformed[:20]:
            console.print(f"  row {row}: {why}")
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
) -> None:
    """Serve REF over HTTP: POST /v1/predict, /healthz, /readyz, /metrics, /docs; hot swap."""
    import dataclasses

    from mlops_dl.registry import Registry
    from mlops_dl.serve.app import run_server

    cfg = serve_config(config, sets)
    given = {"host": host, "port": port, "workers": workers}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in given.items() if v is not None})
    reg = Registry.open(registry)
    mv = reg.get(ref, verify=True)  # fail fast, with a clear message
    console.print(f"serving [bold]{ref}[/] (now {mv.ref}, {cfg.variant}) on "
                  f"http://{cfg.host}:{cfg.port}  docs: /docs  workers: {cfg.workers}")
    run_server(cfg, ref, str(reg.root))  # resolved once: every worker opens the same root


def bench(
    ref: RefArg,
    provider: Annotated[str, typer.Option("--provider", help="cpu or cuda.")] = "cpu",
    data: Annotated[Optional[Path], typer.Option("--data", help="Texts, one per line, or a "
                    "prepared split .parquet (text, label) such as the frozen test split "
                    "(default: TweetEval test tweets in ../shared/data).")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Label ids, one per line, "
                      "parallel to --data (default: the file beside it).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Texts from the real stream "
                                       "(0 = all).")] = 2000,
    load: Annotated[Optional[str], typer.Option("--load", help="Load-test a running server "
                    "instead, e.g. http://127.0.0.1:8000 (loopback only).")] = None,
    clients: Annotated[int, typer.Option("--clients", help="Load mode: concurrent "
                                         "clients.")] = 32,
    duration: Annotated[float, typer.Option("--duration", help="Load mode: seconds.")] = 20.0,
    token: Annotated[str, typer.Option("--token", envvar="MLOPS_DL_TOKEN",
                                       help="Load mode: bearer token.")] = "",
    no_torch: Annotated[bool, typer.Option("--no-torch", help="Skip the PyTorch "
                                           "baseline.")] = False,
    attach: Annotated[bool, typer.Option("--attach/--no-attach", help="Store bench.json in "
                                         "the registry version.")] = True,
    chart: Annotated[Optional[Path], typer.Option("--chart", help="PNG chart path.")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark REF: PyTorch eager vs ONNX fp32 vs int8 (+ Optimum peer), or --load a server."""
    if load is not None:
        from mlops_dl.bench.load import print_load, run_load

        result = run_load(load, texts_file=data, clients=clients, duration_s=duration,
                          token=token, registry=registry)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            print_load(result, console)
        return
    from mlops_dl.bench.run import print_bench, run_bench

    result = run_bench(ref, registry=registry, provider=provider, data=data, labels=labels,
                       limit=limit, torch_baseline=not no_torch, attach=attach, chart=chart,
                       progress=None if as_json else console)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        print_bench(result, console)
