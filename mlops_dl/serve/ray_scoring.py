"""Batch scoring on Ray Data: files in, a parquet dataset out, one Predictor per actor.

Reads reuse ``tables.read_chunks`` and ``scoring.row_errors`` (so a bad row is reported
exactly as single-process ``predict`` reports it); each output row carries ``source_file`` and
``source_row`` (the row number ``predict`` would name). The model version is resolved and
verified once on the driver and its files travel to the actors through the object store, so
workers need the package but not the registry. Only ``predict --executor ray`` imports this
module: the core install stays Ray-free (extra ``ray``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_dl.errors import DataError, MlopsError, RegistryError

try:
    import ray
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask
except ImportError as _e:  # one line for the CLI, naming the extra
    raise MlopsError(f"--executor ray needs Ray Data ({_e}): pip install 'mlops-dl[ray]'") \
        from None

from mlops_dl import tables
from mlops_dl.config import ServeConfig
from mlops_dl.registry import layout, ModelVersion, open_registry
from mlops_dl.runtime import from_dir, servable_for
from mlops_dl.runtime.variants import Servable
from mlops_dl.serve.scoring import row_errors, score_rows, to_arrow

SOURCE_COLUMNS = ("source_file", "source_row")
ERROR_COLUMN = "__error__"


@dataclass
class RayScoreSummary:
    rows: int = 0
    scored: int = 0
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (file, row, reason)
    labels: dict[str, int] = field(default_factory=dict)
    model: str = ""
    output: str = ""
    files: int = 0
    actors: int = 0
    cpus_per_actor: float = 1.0
    seconds: float = 0.0
    servable: str = ""


def input_files(spec: str | Path) -> list[Path]:
    """A file, a folder (its csv/tsv/jsonl/parquet files, recursively) or a glob, sorted."""
    path = Path(spec)
    if path.is_file():
        tables.table_format(path)
        return [path]
    if path.is_dir():
        found = [p for p in sorted(path.rglob("*")) if p.is_file()
                 and p.suffix.lower() in tables.FORMATS and not p.name.startswith(".")]
    elif glob.has_magic(str(spec)):
        found = [Path(p) for p in sorted(glob.glob(str(spec), recursive=True))
                 if Path(p).is_file()]
        for p in found:
            tables.table_format(p)
    else:
        raise DataError(f"input not found: {spec} (a file, a folder or a glob)")
    if not found:
        raise DataError(f"{spec}: no {'/'.join(sorted(set(tables.FORMATS.values())))} files found")
    return found


class ScoringSource(Datasource):
    """A Ray Data datasource: one read task per file, streaming it in chunks. Blocks carry
    source_file, source_row and the row's error (or null)."""

    def __init__(self, files: list[Path], column: str, chunk_rows: int, strict: bool):
        super().__init__()
        self.files, self.column, self.chunk_rows, self.strict = files, column, chunk_rows, strict

    def estimate_inmemory_data_size(self) -> int:
        return sum(p.stat().st_size for p in self.files)

    def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None):
        return [ReadTask(self._reader(path), BlockMetadata(num_rows=None, size_bytes=None,
                                                           input_files=[str(path)],
                                                           exec_stats=None))
                for path in self.files]

    def _reader(self, path: Path):
        column, chunk_rows, strict = self.column, self.chunk_rows, self.strict

        def read():
            chunks = tables.read_chunks(path, [column], chunk_rows,
                                        hint="pick one with --text-column")
            for chunk in chunks:
                clash = [c for c in SOURCE_COLUMNS if c in chunk]
                if clash:
                    raise DataError(f"{path}: input column {clash[0]!r} is a name the scorer "
                                    f"adds; rename it")
                chunk[ERROR_COLUMN] = pd.Series(row_errors(chunk, column, path, strict),
                                                index=chunk.index, dtype=object)
                chunk.insert(0, "source_row", chunk.pop("__row__"))
                chunk.insert(0, "source_file", str(path))
                table = to_arrow(chunk)
                at = table.schema.get_field_index(ERROR_COLUMN)
                yield table.set_column(at, ERROR_COLUMN, table[ERROR_COLUMN].cast(pa.string()))

        return read


class BatchScorer:
    """The callable class of ``map_batches``: one Predictor per actor, its onnxruntime threads
    set to the CPUs Ray gave the actor."""

    def __init__(self, files: dict[str, bytes], name: str, version: int, engine: str,
                 variant: str, provider: str, column: str, cpus: float,
                 verify_key: bytes | None = None):
        settings = ServeConfig(intra_op_threads=max(1, int(_assigned_cpus(cpus))))
        with tempfile.TemporaryDirectory(prefix="mlops-dl-model-") as tmp:
            for rel, data in files.items():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / rel).write_bytes(data)
            if verify_key is not None:  # the driver verified the whole version with this key
                check_received(Path(tmp), [rel for rel in files if rel != layout.SIGNATURE
                                           and not rel.startswith(layout.ATTACHMENTS + "/")],
                               f"{name}:{version}", verify_key)
            self.predictor = from_dir(tmp, provider, variant, settings, name=name,
                                      version=version, engine=engine)
        self.column = column

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        errors = [e if isinstance(e, str) else None for e in batch.pop(ERROR_COLUMN)]
        return to_arrow(score_rows(self.predictor, batch, self.column, errors))


def _assigned_cpus(requested: float) -> float:
    """The CPUs Ray gave this actor; ``requested`` outside a Ray worker."""
    try:
        return ray.get_runtime_context().get_assigned_resources().get("CPU", requested)
    except AssertionError:  # Ray asserts it runs in a worker
        return requested


def model_files(mv: ModelVersion, servable: Servable) -> dict[str, bytes]:
    """The files a Predictor needs for ``servable`` from a verified version (a bundle folder;
    the acceptance record too, so each actor knows whether its servable was accepted)."""
    names = [n for n in (layout.MODEL_JSON, *layout.TOKENIZER_FILES, layout.SIGNATURE)
             if mv.has(n)]
    out = {n: mv.file(n).read_bytes() for n in (*names, servable.file)}
    record = mv.attachment(layout.ACCEPTANCE)
    if record is not None:
        out[f"{layout.ATTACHMENTS}/{layout.ACCEPTANCE}"] = json.dumps(record).encode("utf-8")
    return out


def driver_servable(mv: ModelVersion, engine: str, variant: str, provider: str) -> Servable:
    """Resolve (``auto`` included) once on the driver: every actor runs this servable's file."""
    if engine == "openvino" and provider == "cuda":
        raise MlopsError("--engine openvino runs on CPU only: --provider cuda cannot be honoured "
                         "on the Ray actors; use --provider cpu or --engine onnxruntime")
    servable, _ = servable_for(mv, engine, variant, "cpu" if provider == "auto" else provider)
    return servable


def check_received(folder: Path, names: list[str], ref: str, verify_key: bytes) -> None:
    """In the actor: the files it was sent must be the ones the version's model.sig signs
    under the driver's verifying key (a file changed on the way is refused)."""
    from mlops_dl.registry import signing

    if not (folder / layout.SIGNATURE).is_file():
        raise RegistryError(f"{ref} refused in the Ray actor: {layout.SIGNATURE} was not sent")
    problem = signing.subset_problem(folder, names, verify_key)
    if problem:
        raise RegistryError(f"{ref} refused in the Ray actor: {problem}")


def init_ray(address: str) -> None:
    """Connect (``auto``, ``ray://host:10001``) or start a private local Ray (``local``);
    an already initialised Ray is used as it is."""
    if not ray.is_initialized():
        kw = {"include_dashboard": False} if address == "local" else {}
        try:
            ray.init(address=address, log_to_driver=False, **kw)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise MlopsError(f"cannot connect to Ray at {address!r}: {e}") from None


def score_on_ray(ref: str, input_spec: str | Path, output: str | Path, *,
                 registry: str | Path | None = None, text_column: str = "text",
                 strict: bool = False, variant: str = "int8", provider: str = "cpu",
                 engine: str = "onnxruntime",
                 address: str = "local", concurrency: int | None = None,
                 cpus_per_actor: float = 1.0, batch_size: int = 512,
                 chunk_rows: int = 8192) -> RayScoreSummary:
    """Score every row of the input files with ``ref`` on Ray into the parquet dataset
    ``output`` (a folder, written under a temp name and renamed when complete)."""
    files, out = input_files(input_spec), Path(output)
    if out.suffix.lower() in tables.FORMATS and out.suffix.lower() != ".parquet":
        raise DataError(f"{out}: --executor ray writes a parquet dataset (a folder); "
                        f"give a folder name")
    if out.exists():
        raise DataError(f"{out} already exists; remove it or choose another output folder")
    if concurrency is not None and concurrency < 1 or cpus_per_actor <= 0 or batch_size < 1:
        raise MlopsError("--concurrency, --cpus-per-actor and --batch-size must be positive")
    mv = open_registry(registry).get(ref, verify=True)  # pinned: the actors all get this version
    servable = driver_servable(mv, engine, variant, provider)
    payload = model_files(mv, servable)
    from mlops_dl.registry import signing

    verify_key = signing.public_key_pem()  # actors re-check their files against model.sig
    init_ray(address)
    actors = concurrency or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))
    start = time.perf_counter()
    # reads and writes take no CPU slot (light next to the model): the CPUs go to the actors
    ds = ray.data.read_datasource(ScoringSource(files, text_column, chunk_rows, strict),
                                  num_cpus=0, concurrency=actors)
    ds = ds.map_batches(
        BatchScorer, batch_size=batch_size, batch_format="pandas", num_cpus=cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs=dict(files=payload, name=mv.name, version=mv.version,
                                   engine=servable.engine, variant=servable.variant,
                                   provider=provider, column=text_column,
                                   cpus=cpus_per_actor, verify_key=verify_key))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        ds.write_parquet(str(tmp), ray_remote_args={"num_cpus": 0})
        tmp.rename(out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _user_error(e) from None
    summary = summarize(out, mv.ref)
    summary.servable = servable.label
    summary.files, summary.actors, summary.cpus_per_actor = len(files), actors, cpus_per_actor
    summary.seconds = time.perf_counter() - start
    return summary


def _user_error(e: BaseException) -> BaseException:
    """The MlopsError (bad row, missing column) inside Ray's task error, else ``e``."""
    seen = e
    while seen is not None:
        if isinstance(seen, MlopsError) and type(seen).__module__.startswith("mlops_dl"):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    return e


def summarize(out: Path, model: str) -> RayScoreSummary:
    """Counts read back from the written dataset: rows, labels, the malformed rows."""
    cols = ["source_file", "source_row", "pred_label", "pred_error"]
    table = pq.read_table(out, columns=cols).to_pandas()
    bad = table[table["pred_error"].notna()].sort_values(["source_file", "source_row"])
    labels = table["pred_label"].dropna().value_counts().to_dict()
    return RayScoreSummary(
        rows=len(table), scored=len(table) - len(bad), model=model, output=str(out),
        labels={str(k): int(v) for k, v in sorted(labels.items())},
        malformed=[(f, int(r), e) for f, r, e in bad[["source_file", "source_row",
                                                      "pred_error"]].itertuples(index=False)])
