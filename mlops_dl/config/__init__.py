"""Typed config: the schema (``schema``), typed coercion (``coerce``) and loading (``loader``).

YAML + ``--set a.b=v`` overrides -> validated dataclasses. Unknown keys and wrong types fail
with a ConfigError naming the file and the dotted key. Imports only ``errors`` (a leaf with no
imports of ours), so every module may import it.
"""

from mlops_dl.config.loader import (
    apply_override,
    build_section,
    from_dict,
    load,
    replace,
    save,
    to_dict,
)
from mlops_dl.config.schema import (
    SEARCHABLE_SECTIONS,
    CleanConfig,
    Config,
    DataConfig,
    ExportConfig,
    ModelConfig,
    ParamSpace,
    PipelineConfig,
    SearchConfig,
    ServeConfig,
    SourceConfig,
    SplitConfig,
    TrainConfig,
)
from mlops_dl.errors import ConfigError

__all__ = [
    "SEARCHABLE_SECTIONS", "CleanConfig", "Config", "ConfigError", "DataConfig", "ExportConfig",
    "ModelConfig", "ParamSpace", "PipelineConfig", "SearchConfig", "ServeConfig", "SourceConfig",
    "SplitConfig", "TrainConfig", "apply_override", "build_section", "from_dict", "load",
    "replace", "save", "to_dict",
]  # fmt: skip
