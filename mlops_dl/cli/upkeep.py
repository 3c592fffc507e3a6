"""`mlops-dl registry gc | keygen`: clean what killed work left, make a signing key pair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, RegistryOpt, echo_json, make_console, open_registry

console = make_console()


def gc(older_than: Annotated[str, typer.Option(
           "--older-than", help="Only what has not changed for this long: 90s, 30m, 1h, 2d.")] = "1h",
       dry_run: Annotated[bool, typer.Option(
           "--dry-run", help="List what would be removed; remove nothing.")] = False,
       registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Remove stale staging folders (local) and uploads no version references (S3); never a
    file of a registered version."""
    from mlops_dl.registry import gc as collector

    found = collector.collect(open_registry(registry), collector.parse_age(older_than), dry_run)
    if as_json:
        echo_json({"dry_run": dry_run, "removed" if not dry_run else "would_remove": found})
        return
    if not found:
        console.print("nothing to remove")
        return
    table = Table("kind", "where", "bytes")
    for item in found:
        table.add_row(item["kind"], item["where"], f"{item['bytes']:,}")
    console.print(table)
    total = sum(item["bytes"] for item in found)
    console.print(f"{'would remove' if dry_run else 'removed'} {len(found)} leftovers, {total:,} bytes")


def keygen(out: Annotated[Path, typer.Argument(help="Folder for signing.key (private, 0600) "
                                                "and signing.pub.")]) -> None:
    """Make a P-256 key pair for model signing: signing.key where versions are registered
    ($MLOPS_DL_MODEL_SIGNING_KEY), signing.pub wherever they are loaded ($MLOPS_DL_MODEL_VERIFY_KEY)."""
    from mlops_dl.registry import signing

    signing.generate_key_pair(out / "signing.key", out / "signing.pub")
    console.print(f"wrote {out / 'signing.key'} (keep it secret) and {out / 'signing.pub'}\n"
                  f"register with: export {signing.PRIVATE_KEY_ENV}={out / 'signing.key'}\n"
                  f"serve/load with: export {signing.PUBLIC_KEY_ENV}={out / 'signing.pub'}")


def register(registry_app: typer.Typer) -> None:
    registry_app.command()(gc)
    registry_app.command()(keygen)
