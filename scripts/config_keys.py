"""Render the config key reference from the schema into docs/config-reference.md (or print it).

    python scripts/config_keys.py                 # print the reference
    python scripts/config_keys.py --write docs/config-reference.md

The descriptions are the field comments of mlops_dl/config/schema.py and mlops_dl/gates/canvas.py;
tests/unit/test_config_reference.py fails when docs/config-reference.md is not this rendering.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_dl.config import Config
from mlops_dl.config.reference import render, replace_block
from mlops_dl.gates.canvas import CanvasConfig

ROOTS = [("", Config), ("canvas", CanvasConfig)]  # configs/*.yaml, then canvas files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="rewrite the marked block of this file")
    args = parser.parse_args()
    block = render(ROOTS)
    if args.write is None:
        print(block, end="")
        return
    args.write.write_text(replace_block(args.write.read_text(encoding="utf-8"), block), encoding="utf-8")
    print(f"wrote the key reference into {args.write}")


if __name__ == "__main__":
    main()
