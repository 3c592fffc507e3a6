"""One source for engine, variant, precision and provider names (runtime.variants): the config
Literals (config imports nothing of ours, so it is checked here), the canvas choices, the CLI
help and the bench all agree with the table."""

from __future__ import annotations

import dataclasses
import typing

from mlops_dl.config import ServeConfig
from mlops_dl.gates.canvas import LatencyBudget
from mlops_dl.runtime import variants as V


def literal(cls, name: str) -> tuple:
    hints = typing.get_type_hints(cls)
    return typing.get_args(hints[name])


def test_config_and_canvas_literals_are_the_table():
    for cls in (ServeConfig, LatencyBudget):
        assert set(literal(cls, "engine")) == {*V.ENGINES, "auto"}, cls
        assert set(literal(cls, "variant")) == {*V.VARIANTS, "auto"}, cls
    assert set(literal(ServeConfig, "provider")) == set(V.PROVIDERS)


def test_every_variant_has_a_row_and_every_row_a_known_name():
    named = {s.variant for s in V.SPECS} | {"int8"}  # int8: the batch-invariant alias
    assert named == set(V.VARIANTS)
    assert {s.engine for s in V.SPECS} == set(V.ENGINES)
    assert {s.precision for s in V.SPECS} == set(V.PRECISIONS)
    for engine, names in V.INT8_ALIAS.items():
        assert all(V.spec(engine, n) is not None and V.spec(engine, n).batch_invariant for n in names)
    keys = [(s.engine, s.variant) for s in V.SPECS]
    assert len(keys) == len(set(keys))


def test_cli_help_lists_the_names():
    from typer.testing import CliRunner

    from mlops_dl.cli import app

    for command in (["predict", "--help"], ["serve", "--help"]):
        out = " ".join(CliRunner().invoke(app, command, terminal_width=200).output.split())
        for name in (*V.VARIANTS, *V.ENGINES):
            assert name in out, (command, name)


def test_bench_engine_choices_are_the_table():
    from mlops_dl.bench.run import BENCH_ENGINES

    assert set(BENCH_ENGINES) == {*V.ENGINES, "auto"}
    assert dataclasses.is_dataclass(V.Servable)
