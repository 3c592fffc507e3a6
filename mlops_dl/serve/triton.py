"""A registered version as an NVIDIA Triton model repository (``registry export-triton``).

Three models, Triton's pattern for Hugging Face classifiers:

    OUT_DIR/<name>/config.pbtxt, labels.txt, <N>/model.onnx        onnxruntime_onnx
    OUT_DIR/<name>_tokenizer/config.pbtxt, <N>/model.py + mlops_dl_padding.py + tokenizer.json
    OUT_DIR/<name>_text/config.pbtxt, labels.txt, <N>/             ensemble: TEXT -> logits

A client sends raw text to ``<name>_text`` and asks for ``logits`` with ``class_count`` to get
labels. The models are staged beside OUT_DIR and renamed into it, so a Triton that polls the
repository never sees half a model.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops_dl.errors import MlopsError
from mlops_dl.registry import layout, ModelVersion, open_registry
from mlops_dl.runtime import from_version, Predictor
LABELS_FILE = "labels.txt"
TEXT_INPUT = "TEXT"
TOKENIZER_SOURCE = Path(__file__).with_name("triton_tokenizer.py")
PADDING_SOURCE = resources.files("mlops_dl.runtime") / "padding.py"  # imported by the model as:
PADDING_MODULE = "mlops_dl_padding.py"
INSTANCE_KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}


@dataclass
class TritonExport:
    root: Path
    models: dict[str, Path]  # role (onnx, tokenizer, ensemble) -> model folder
    ref: str
    variant: str


def _tensors(kind: str, specs: list[tuple[str, str, str]], extra: dict[str, str] | None = None) -> str:
    """``input [...]`` / ``output [...]`` from (name, data_type, dims)."""
    extra = extra or {}
    items = [f'  {{ name: "{n}" data_type: {t} dims: [ {d} ]{extra.get(n, "")} }}'
             for n, t, d in specs]
    return f"{kind} [\n" + ",\n".join(items) + "\n]\n"


def _instances(kind: str, count: int) -> str:
    return f"instance_group [ {{ count: {count} kind: {INSTANCE_KINDS[kind]} }} ]\n"


def onnx_config(name: str, p: Predictor, max_batch: int, instance: str) -> str:
    ids = [(n, "TYPE_INT64", "-1") for n in p.input_names]
    label = {"logits": f' label_filename: "{LABELS_FILE}"'}
    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch}\n'
            + _tensors("input", ids)
            + _tensors("output", [("logits", "TYPE_FP32", str(len(p.labels)))], label)
            + "dynamic_batching { max_queue_delay_microseconds: 2000 }\n"
            + _instances(instance, 1))


def tokenizer_config(name: str, p: Predictor, max_batch: int) -> str:
    ids = [(n, "TYPE_INT64", "-1") for n in p.input_names]
    params = {"max_length": p.max_length, "pad_id": p.pad_id}
    lines = "".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}\n'
                    for k, v in params.items())
    return (f'name: "{name}"\nbackend: "python"\nmax_batch_size: {max_batch}\n'
            + _tensors("input", [(TEXT_INPUT, "TYPE_STRING", "1")])
            + _tensors("output", ids) + lines + _instances("cpu", 1))


def ensemble_config(name: str, tokenizer: str, onnx: str, p: Predictor, max_batch: int) -> str:
    tok_out = "".join(f' output_map {{ key: "{n}" value: "{n}" }}' for n in p.input_names)
    onnx_in = "".join(f' input_map {{ key: "{n}" value: "{n}" }}' for n in p.input_names)
    steps = (f'    {{ model_name: "{tokenizer}" model_version: -1'
             f' input_map {{ key: "{TEXT_INPUT}" value: "{TEXT_INPUT}" }}{tok_out} }},\n'
             f'    {{ model_name: "{onnx}" model_version: -1{onnx_in}'
             f' output_map {{ key: "logits" value: "logits" }} }}\n')
    label = {"logits": f' label_filename: "{LABELS_FILE}"'}
    return (f'name: "{name}"\nplatform: "ensemble"\nmax_batch_size: {max_batch}\n'
            + _tensors("input", [(TEXT_INPUT, "TYPE_STRING", "1")])
            + _tensors("output", [("logits", "TYPE_FP32", str(len(p.labels)))], label)
            + "ensemble_scheduling {\n  step [\n" + steps + "  ]\n}\n")


def export_triton(ref: str, out_dir: str | Path, registry: str | Path | None = None,
                  variant: str = "int8", max_batch_size: int = 32,
                  instance: str = "cpu") -> TritonExport:
    """Write ``ref`` (verified) as three Triton models under ``out_dir``."""
    if instance not in INSTANCE_KINDS:
        raise MlopsError(f"--instance {instance!r}: expected cpu or gpu")
    if not 1 <= max_batch_size <= 4096:
        raise MlopsError(f"--max-batch-size {max_batch_size}: expected 1..4096")
    mv = open_registry(registry).get(ref, verify=True)
    p = from_version(mv, "cpu", variant)  # resolved (Triton runs onnxruntime); names, pad id
    root = Path(out_dir)
    names = {"onnx": mv.name, "tokenizer": f"{mv.name}_tokenizer", "ensemble": f"{mv.name}_text"}
    taken = [n for n in names.values() if (root / n).exists()]
    if taken:
        raise MlopsError(f"{root}: model folder {taken[0]!r} already exists; remove it or "
                         f"export into another repository")
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        _write_models(stage, names, mv, p, variant, max_batch_size, instance)
        for n in names.values():
            os.replace(stage / n, root / n)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return TritonExport(root, {role: root / n for role, n in names.items()}, mv.ref, p.variant)


def _write_models(stage: Path, names: dict[str, str], mv: ModelVersion, p: Predictor,
                  variant: str, max_batch: int, instance: str) -> None:
    onnx, tok, ens = (stage / names[k] for k in ("onnx", "tokenizer", "ensemble"))
    version = str(mv.version)
    labels = "".join(f"{label}\n" for label in p.labels)
    for folder in (onnx / version, tok / version, ens / version):
        folder.mkdir(parents=True)
    shutil.copyfile(mv.file(p.servable.file), onnx / version / "model.onnx")
    (onnx / LABELS_FILE).write_text(labels, encoding="utf-8")
    (onnx / "config.pbtxt").write_text(onnx_config(names["onnx"], p, max_batch, instance),
                                       encoding="utf-8")
    shutil.copyfile(TOKENIZER_SOURCE, tok / version / "model.py")
    (tok / version / PADDING_MODULE).write_bytes(PADDING_SOURCE.read_bytes())
    shutil.copyfile(mv.file(layout.TOKENIZER), tok / version / "tokenizer.json")
    (tok / "config.pbtxt").write_text(tokenizer_config(names["tokenizer"], p, max_batch),
                                      encoding="utf-8")
    (ens / LABELS_FILE).write_text(labels, encoding="utf-8")
    (ens / "config.pbtxt").write_text(
        ensemble_config(names["ensemble"], names["tokenizer"], names["onnx"], p, max_batch),
        encoding="utf-8")
