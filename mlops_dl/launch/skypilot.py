"""A SkyPilot task for a launch job: resources, setup (this project + the CUDA torch), run.

The run command gives Lightning what SkyPilot provides on each node: the first of
``$SKYPILOT_NODE_IPS`` as ``MASTER_ADDR``, ``$SKYPILOT_NODE_RANK`` as ``NODE_RANK``, and
``$SKYPILOT_NUM_GPUS_PER_NODE`` / ``$SKYPILOT_NUM_NODES`` as ``train.devices`` / ``num_nodes``.
A multi-node search runs trials on every node and finishes (winner) on node 0.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_dl import files
from mlops_dl.launch.task import LaunchJob, command_line

TORCH = "torch==2.13.0"  # the version the train extra pins; the CUDA build comes from TORCH_INDEX
TORCH_INDEX = "https://download.pytorch.org/whl/cu128"
MASTER_PORT = 29500
EXTRAS = "train,s3,mlflow"


def setup_script(extras: str = EXTRAS) -> str:
    """Install the CUDA torch first, then this project (workdir) with the training extras."""
    return "\n".join([
        "set -e",
        "python -m pip install -U pip",
        f"python -m pip install '{TORCH}' --index-url {TORCH_INDEX}",
        f"python -m pip install -e '.[{extras}]' '{TORCH}'",
    ])  # fmt: skip


def run_script(cfg, job: LaunchJob, mounted: dict[str, str]) -> str:
    """The shell each node runs: the rendezvous env, then the command."""
    lines = ["set -e",
             'export MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1)',
             f"export MASTER_PORT={MASTER_PORT}",
             "export NODE_RANK=$SKYPILOT_NODE_RANK"]  # fmt: skip
    devices, nodes = "$SKYPILOT_NUM_GPUS_PER_NODE", "$SKYPILOT_NUM_NODES"
    cmd = command_line(cfg, job, mounted, devices, nodes)
    if job.command == "search" and job.nodes > 1:  # trials everywhere; the winner on node 0
        worker = command_line(cfg, job, mounted, devices, nodes, extra=("--worker-only",))
        lines += ['if [ "$SKYPILOT_NODE_RANK" = "0" ]; then', f"  {cmd}", "else", f"  {worker}", "fi"]
    else:
        lines.append(cmd)
    return "\n".join(lines)


def task_doc(cfg, job: LaunchJob, mounted: dict[str, str], workdir: Path) -> dict:
    """The SkyPilot task as a dict (the YAML written by ``write_task``)."""
    resources: dict = {}
    if job.gpus:
        resources["accelerators"] = job.gpus
    if job.cloud:
        resources["cloud"] = job.cloud
    envs = {"HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
    if job.registry:
        envs["MLOPS_DL_REGISTRY"] = job.registry
    doc = {"name": f"mlops-dl-{job.command}-{cfg.data.name}".lower().replace("_", "-"),
           "workdir": str(workdir.resolve()), "num_nodes": job.nodes}  # fmt: skip
    if resources:
        doc["resources"] = resources
    doc.update({"envs": envs, "file_mounts": mounted, "setup": setup_script(),
                "run": run_script(cfg, job, mounted)})  # fmt: skip
    return doc


class _TaskDumper(yaml.SafeDumper):
    """Multi-line strings (setup, run) as YAML literal blocks, as people write SkyPilot tasks."""


_TaskDumper.add_representer(str, lambda d, s: d.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def write_task(path: Path, doc: dict) -> Path:
    text = yaml.dump(doc, Dumper=_TaskDumper, sort_keys=False, default_flow_style=False, width=1000)
    files.write_text(path, text)
    return path


def launch_command(task_path: Path, job: LaunchJob, cluster: str = "mlops-dl") -> str:
    """The ``sky launch`` line to run the task (S3 keys passed from the local env)."""
    env = " --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY" if job.registry.startswith("s3://") else ""
    return f"sky launch -c {cluster} {task_path}{env}"
