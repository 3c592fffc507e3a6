"""Render the CLI reference from the typer app into docs/cli-reference.md (or print it).

    python scripts/cli_reference.py            # print the reference
    python scripts/cli_reference.py --write    # rewrite the marked block of docs/cli-reference.md

tests/unit/test_docs.py fails when the page is not this rendering.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_dl.cli import click_command
from mlops_dl.cli.reference import render, replace_block

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli-reference.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite the marked block of {PAGE}")
    args = parser.parse_args()
    block = render(click_command())
    if not args.write:
        print(block, end="")
        return
    PAGE.write_text(replace_block(PAGE.read_text(encoding="utf-8"), block), encoding="utf-8")
    print(f"wrote the CLI reference into {PAGE}")


if __name__ == "__main__":
    main()
