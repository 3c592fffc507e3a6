"""The job a launch runs: which command, on how many GPUs and nodes, with which files mounted.

A launched job reads its config from ``REMOTE_ROOT/config.yaml`` (the resolved config, written
beside the task), its prepared data and a local model directory from file mounts, and the
registry from an ``s3://`` URL. ``local_reads`` names the local paths the command would read
that travel with no mount, so ``launch`` can warn about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlops_dl.config import Config
from mlops_dl.data.prepared import output_path
from mlops_dl.errors import ConfigError

COMMANDS = ("train", "search", "pipeline")
REMOTE_ROOT = "~/mlops-dl"  # on each node; $HOME/mlops-dl in the run commands
REMOTE_HOME = "$HOME/mlops-dl"
REMOTE_CONFIG = "config.yaml"
GPUS_RE = re.compile(r"^([A-Za-z0-9-]+)(?::(\d+))?$")  # SkyPilot's accelerator[:count]


@dataclass
class LaunchJob:
    command: Literal["train", "search", "pipeline"] = "train"
    gpus: str = ""  # per node, SkyPilot style: A100:8, H100, L4:1 ("" = CPU only)
    nodes: int = 1
    cloud: str = ""  # aws, gcp, azure, kubernetes, ... ("" = SkyPilot picks)
    registry: str = ""  # s3://bucket/prefix the job exports to ("" = the config's export.registry)
    data_url: str = ""  # s3://... holding the prepared dataset ("" = upload the local one)
    run_name: str = ""  # the run dir's name on the nodes (every node must use the same)

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise ConfigError(f"launch: unknown command {self.command!r} (choose from {', '.join(COMMANDS)})")
        if self.nodes < 1:
            raise ConfigError(f"--nodes {self.nodes}: must be >= 1")
        if self.gpus and not GPUS_RE.match(self.gpus):
            raise ConfigError(f"--gpus {self.gpus!r}: expected NAME[:COUNT], e.g. A100:8")
        if self.nodes > 1 and self.command == "pipeline":
            raise ConfigError("launch pipeline runs on one node (--nodes 1); train or search scale out")
        if self.nodes > 1 and not self.gpus:
            raise ConfigError("--nodes > 1 needs --gpus (the DDP ranks of a multi-node run are GPUs)")

    @property
    def gpus_per_node(self) -> int:
        if not self.gpus:
            return 0
        count = GPUS_RE.match(self.gpus).group(2)
        return int(count) if count else 1


def check_config(cfg: Config, job: LaunchJob) -> None:
    """Refuse what cannot work on several nodes (a search's SQLite file is per node)."""
    storage = cfg.search.storage
    if job.command == "search" and job.nodes > 1 and (not storage or storage.startswith("sqlite")):
        raise ConfigError("launch search --nodes > 1: search.storage must be an RDB URL every node "
                          "reaches (postgresql://...), not SQLite")  # fmt: skip


def mounts(cfg: Config, job: LaunchJob, config_file: Path) -> dict[str, str]:
    """Remote path -> local path or URL: the config, the prepared data, a local model dir."""
    out = {f"{REMOTE_ROOT}/{REMOTE_CONFIG}": str(config_file.resolve())}
    data = output_path(cfg)
    if job.data_url:
        out[f"{REMOTE_ROOT}/data/{cfg.data.name}"] = job.data_url
    elif job.command != "pipeline" and data.is_dir():
        out[f"{REMOTE_ROOT}/data/{cfg.data.name}"] = str(data.resolve())
    if Path(cfg.model.name).is_dir():
        out[f"{REMOTE_ROOT}/model"] = str(Path(cfg.model.name).resolve())
    return out


def local_reads(cfg: Config, job: LaunchJob, mounted: dict[str, str]) -> list[str]:
    """Local files and folders the command reads that are under no file mount."""
    sent = [Path(p) for p in mounted.values() if "://" not in p]
    reads: list[tuple[str, str]] = []
    if job.command == "pipeline":
        for i, src in enumerate(cfg.data.sources):
            reads += [(f"data.sources[{i}].path", src.path), (f"data.sources[{i}].labels_path", src.labels_path)]
        reads.append(("pipeline.canvas", cfg.pipeline.canvas))
    elif not any(k.startswith(f"{REMOTE_ROOT}/data/") for k in mounted):
        reads.append(("data.output_dir (the prepared data)", str(output_path(cfg))))
    if job.command in ("pipeline",) and not job.registry:
        reads.append(("export.registry (use --registry s3://...)", cfg.export.registry or "./registry"))
    out = []
    for key, path in reads:
        if not path or "://" in path:
            continue
        p = Path(path).expanduser().resolve()
        if not any(p == s or s in p.parents for s in sent):
            out.append(f"{key}: {path}")
    return out


def overrides(cfg: Config, job: LaunchJob, mounted: dict[str, str], devices: str, nodes: str) -> list[str]:
    """The --set flags that point the command at the mounts and the job's GPUs and nodes."""
    sets = [f"data.output_dir={REMOTE_HOME}/data", f"train.runs_dir={REMOTE_HOME}/runs"]
    if f"{REMOTE_ROOT}/model" in mounted:
        sets.append(f"model.name={REMOTE_HOME}/model")
    if job.run_name and job.command == "train":
        sets.append(f"train.run_name={job.run_name}")
    if job.gpus and job.command == "search":  # one GPU per trial, one trial per GPU
        sets += ["train.accelerator=gpu", "train.devices=1", "train.strategy=auto"]
    elif job.gpus:
        sets += ["train.accelerator=gpu", f"train.devices={devices}", f"train.num_nodes={nodes}"]
        sets.append("train.strategy=" + ("ddp" if job.nodes > 1 or job.gpus_per_node > 1 else "auto"))
    if job.registry:
        sets.append(f"export.registry={job.registry}")
    return sets


def command_line(cfg: Config, job: LaunchJob, mounted: dict[str, str], devices: str, nodes: str,
                 config: str = f"{REMOTE_HOME}/{REMOTE_CONFIG}", extra: tuple[str, ...] = ()) -> str:
    """``mlops-dl <command> --config ... --set ...`` for one node."""
    parts = ["mlops-dl", job.command, "--config", config]
    if job.command == "search" and job.gpus:
        parts += ["--workers", devices]  # one trial per GPU on each node
    parts += list(extra)
    for value in overrides(cfg, job, mounted, devices, nodes):
        parts += ["--set", value]
    return " ".join(parts)
