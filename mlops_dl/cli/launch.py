"""``mlops-dl launch``: a SkyPilot task for GPU machines, or a job on a running Ray cluster."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import JsonOpt, SetOpt, load_config, make_console
from mlops_dl.errors import MlopsError

console = make_console()
err = make_console(stderr=True)


def launch(
    config: Annotated[Path, typer.Argument(help="YAML config file (see configs/).")],
    set_: SetOpt = None,
    command: Annotated[str, typer.Option("--command", help="What the job runs: train, search or pipeline.")] = "train",
    gpus: Annotated[str, typer.Option("--gpus", help="Accelerators per node, SkyPilot style: A100:8, H100, L4:1 (none: CPU).")] = "",
    nodes: Annotated[int, typer.Option("--nodes", help="Machines (DDP across nodes for train; trials on every node for search).")] = 1,
    cloud: Annotated[str, typer.Option("--cloud", help="aws, gcp, azure, kubernetes, ... (default: SkyPilot picks).")] = "",
    registry: Annotated[str, typer.Option("--registry", help="s3://bucket/prefix the job's exports go to.")] = "",
    data_url: Annotated[str, typer.Option("--data-url", help="s3://... holding the prepared dataset (default: upload the local one).")] = "",
    out: Annotated[Path, typer.Option("--out", help="Where the SkyPilot task is written (the resolved config goes beside it).")] = Path("task.yaml"),
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Submit to this Ray cluster's job server instead, e.g. http://HEAD:8265.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="--ray-address: Ray Train workers (train) or Ray trial workers (search); 0 = the plain command on the cluster.")] = 0,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="--ray-address: wait for the job to end and print its last log lines.")] = False,
    json_: JsonOpt = False,
) -> None:  # fmt: skip
    """Write a SkyPilot task that runs train/search/pipeline on GPU machines (or submit to Ray)."""
    from mlops_dl import config as config_mod
    from mlops_dl.launch import task as task_mod

    cfg = load_config(config, set_)
    job = task_mod.LaunchJob(command, gpus, nodes, cloud, registry, data_url,
                             run_name=cfg.train.run_name or _run_name(cfg))  # fmt: skip
    task_mod.check_config(cfg, job)
    if ray_address:
        _submit(ray_address, cfg, job, workers, wait, json_)
        return
    from mlops_dl.launch import skypilot

    resolved = out.with_name(out.stem + ".config.yaml")
    config_mod.save(cfg, resolved)
    mounted = task_mod.mounts(cfg, job, resolved)
    _warn(task_mod.local_reads(cfg, job, mounted), "not under a file mount")
    skypilot.write_task(out, skypilot.task_doc(cfg, job, mounted, workdir=_project_root()))
    line = skypilot.launch_command(out, job)
    if json_:
        typer.echo(json.dumps({"task": str(out), "config": str(resolved), "launch": line}))
        return
    console.print(f"wrote {out} (SkyPilot task) and {resolved} (the resolved config it mounts)")
    console.print(f"next: {line}", highlight=False, soft_wrap=True)


def _submit(address: str, cfg, job, workers: int, wait: bool, json_: bool) -> None:
    from mlops_dl.launch import ray_jobs, task as task_mod

    _warn(task_mod.local_reads(cfg, job, {}), "read by path: they must exist on the Ray cluster's nodes")
    info = ray_jobs.submit(address, cfg, job, workers)
    if wait:
        info["status"], logs = ray_jobs.wait(address, info["job_id"])
        if not json_:
            console.print(logs, highlight=False, markup=False)
    if json_:
        typer.echo(json.dumps(info))
    else:
        console.print(f"submitted {info['job_id']} to {address}: {info['entrypoint']}", highlight=False)
        console.print(f"follow: ray job logs --address {address} --follow {info['job_id']}", highlight=False)
    if info.get("status") not in (None, "SUCCEEDED"):
        raise MlopsError(f"Ray job {info['job_id']} ended {info['status']}")


def _warn(paths: list[str], why: str) -> None:
    if paths:
        err.print(f"[yellow]warning:[/] local paths {why}: {'; '.join(paths)}", highlight=False, soft_wrap=True)


def _run_name(cfg) -> str:
    """One run dir name for every node of the job."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{cfg.data.name}-launch"


def _project_root() -> Path:
    """The checkout SkyPilot syncs as the workdir (the one holding pyproject.toml), else cwd."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def register(app: typer.Typer) -> None:
    app.command("launch")(launch)
