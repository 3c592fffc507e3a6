"""`mlops-dl registry export-triton`: every config.pbtxt parses with Triton's own model_config
protobuf, the ensemble wires real tensors, and the tokenizer model (run here with a stand-in
for triton_python_backend_utils) produces exactly our runtime's token tensors."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import pytest

from mlops_dl.cli import main
from mlops_dl.runtime import from_registry
from mlops_dl.runtime.onnxruntime import make_session
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")
json_format = pytest.importorskip("google.protobuf.json_format")

TEXTS = ["love great awesome", "hate", "the meeting is at noon " * 20, "é ü 😀", "x"]


@pytest.fixture(scope="module")
def repo(tiny_registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("triton") / "models"
    rc = main(["registry", "export-triton", "tiny:1", str(out), "--registry", str(tiny_registry),
               "--variant", "fp32", "--max-batch-size", "16", "--instance", "gpu"])
    assert rc == 0
    return out


def parse(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_configs_parse_with_tritons_protobuf(repo, tiny_registry):
    assert sorted(p.name for p in repo.iterdir()) == ["tiny", "tiny_text", "tiny_tokenizer"]
    onnx, tok, ens = (parse(repo / n / "config.pbtxt") for n in ("tiny", "tiny_tokenizer",
                                                                   "tiny_text"))
    mc = model_config_pb2
    assert onnx.platform == "onnxruntime_onnx" and onnx.max_batch_size == 16
    session = make_session(repo / "tiny" / "1" / "model.onnx", "cpu")
    assert {i.name for i in onnx.input} == {i.name for i in session.get_inputs()}
    assert all(i.data_type == mc.TYPE_INT64 and list(i.dims) == [-1] for i in onnx.input)
    (logits,) = onnx.output
    assert (logits.name, logits.data_type, list(logits.dims)) == ("logits", mc.TYPE_FP32, [3])
    labels = (repo / "tiny" / logits.label_filename).read_text().split()
    assert labels == ["negative", "neutral", "positive"]
    assert onnx.HasField("dynamic_batching")
    assert onnx.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert tok.backend == "python" and tok.input[0].data_type == mc.TYPE_STRING
    assert tok.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    assert {o.name for o in tok.output} == {i.name for i in onnx.input}
    for name in ("tokenizer.json", "model.py", "mlops_dl_padding.py"):
        assert (repo / "tiny_tokenizer" / "1" / name).is_file()
    assert ens.platform == "ensemble" and (repo / "tiny_text" / "1").is_dir()
    assert (repo / "tiny_text" / ens.output[0].label_filename).read_text().split() == labels
    # every step reads tensors that exist and names real inputs/outputs of its model
    configs = {"tiny": onnx, "tiny_tokenizer": tok}
    available = {i.name for i in ens.input}
    for step in ens.ensemble_scheduling.step:
        model = configs[step.model_name]
        assert set(step.input_map) == {i.name for i in model.input}
        assert set(step.input_map.values()) <= available
        assert set(step.output_map) <= {o.name for o in model.output}
        available |= set(step.output_map.values())
    assert {o.name for o in ens.output} <= available


def load_tokenizer_model(repo, monkeypatch):
    """model.py as Triton's Python backend would run it, with a stand-in utils module."""

    class Tensor:
        def __init__(self, name, array):
            self._name, self._array = name, array

        def name(self):
            return self._name

        def as_numpy(self):
            return self._array

    class InferenceResponse:
        def __init__(self, output_tensors, error=None):
            self.output_tensors, self.error = output_tensors, error

    fake = types.ModuleType("triton_python_backend_utils")
    fake.Tensor, fake.InferenceResponse, fake.TritonError = Tensor, InferenceResponse, str
    fake.get_input_tensor_by_name = lambda request, name: request[name]
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake)
    monkeypatch.setattr(sys, "path", [*sys.path])  # model.py puts its own folder first
    sys.modules.pop("mlops_dl_padding", None)
    path = repo / "tiny_tokenizer" / "1" / "model.py"
    spec = importlib.util.spec_from_file_location("triton_tokenizer_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = json_format.MessageToDict(parse(repo / "tiny_tokenizer" / "config.pbtxt"),
                                       preserving_proto_field_name=True)
    model = module.TritonPythonModel()
    model.initialize({"model_config": json.dumps(config), "model_repository":
                      str(repo / "tiny_tokenizer"), "model_version": "1"})
    return model, Tensor


def test_tokenizer_model_gives_the_runtimes_ids(repo, tiny_registry, monkeypatch):
    model, Tensor = load_tokenizer_model(repo, monkeypatch)
    batch = np.array([[t.encode("utf-8")] for t in TEXTS], dtype=object)  # (B, 1) BYTES
    bad = np.array([[b"\xff\xfe"]], dtype=object)
    good, refused = model.execute([{"TEXT": Tensor("TEXT", batch)}, {"TEXT": Tensor("TEXT", bad)}])
    assert refused.error and "not UTF-8" in refused.error and good.error is None
    tensors = {t.name(): t.as_numpy() for t in good.output_tensors}
    predictor = from_registry("tiny:1", tiny_registry, variant="fp32")
    expected = predictor._feeds(predictor.encode(TEXTS))  # what the runtime feeds onnxruntime
    assert tensors.keys() == expected.keys()
    for name, array in expected.items():
        assert tensors[name].dtype == np.int64 and np.array_equal(tensors[name], array), name
    assert tensors["input_ids"].shape[1] == predictor.max_length  # the long text is truncated
    # the ONNX model of the repository on those tensors gives the runtime's labels
    session = make_session(repo / "tiny" / "1" / "model.onnx", "cpu")
    logits = session.run(["logits"], tensors)[0]  # (B, L)
    labels = (repo / "tiny" / "labels.txt").read_text().split()
    assert [labels[i] for i in logits.argmax(1)] == [r["label"] for r in predictor.predict(TEXTS)]


def test_refusals(repo, tiny_registry, tmp_path, capsys):
    base = ["registry", "export-triton", "tiny:1", "--registry", str(tiny_registry)]
    assert main([*base, str(repo)]) != 0
    assert "'tiny' already exists" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "r"), "--instance", "tpu"]) != 0
    assert "expected cpu or gpu" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "r"), "--max-batch-size", "0"]) != 0
    assert main(["registry", "export-triton", "nope:1", str(tmp_path / "r"), "--registry",
                 str(tiny_registry)]) != 0
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
