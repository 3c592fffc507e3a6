"""`mlops-dl bench`: measure a version (the PyTorch baselines vs our onnxruntime and OpenVINO
engines) or load-test a server. Torch is imported lazily, for the PyTorch baselines only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import (JsonOpt, RefArg, RegistryOpt, canvas_latency_budget, echo_json,
                                 make_console, open_registry)

console = make_console()


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    ref: RefArg,
    provider: Annotated[str, typer.Option("--provider", help="cpu or cuda.")] = "cpu",
    data: Annotated[Optional[Path], typer.Option("--data", help="Texts, one per line, or a "
                    "prepared split .parquet (text, label) (default: the version's own frozen "
                    "test split, found through its lineage).")] = None,
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
    engine: Annotated[str, typer.Option("--engine", help="Our engines to measure: onnxruntime, "
                                        "openvino or auto (all that can run here).")] = "auto",
) -> None:
    """Benchmark REF: PyTorch (eager, bf16, compile, bf16-compile) vs ours, or --load a server."""
    if load is not None:
        from mlops_dl.bench.load import print_load, run_load

        result = run_load(load, texts_file=data, clients=clients, duration_s=duration,
                          token=token, registry=registry)
        if as_json:
            echo_json(result)
        else:
            print_load(result, console)
        return
    from mlops_dl.bench.run import print_bench, run_bench

    quiet = make_console(stderr=True) if as_json else console
    budget = canvas_latency_budget(open_registry(registry).get(ref, verify=False), quiet)
    result = run_bench(ref, registry=registry, provider=provider, data=data, labels=labels,
                       limit=limit, torch_baseline=not no_torch, attach=attach, chart=chart,
                       progress=None if as_json else console, engine=engine, budget_ms=budget)
    if as_json:
        echo_json(result)
    else:
        print_bench(result, console)
