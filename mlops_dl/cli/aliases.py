"""`mlops-dl registry history|rollback|alias-remove|copy`: alias moves and copies between registries."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, RegistryOpt, make_console, open_registry
from mlops_dl.errors import RegistryError

console = make_console()
AliasRef = Annotated[str, typer.Argument(help="NAME@ALIAS, e.g. sentiment@production.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the alias history).")]


def _alias_ref(ref: str) -> tuple[str, str]:
    from mlops_dl.registry import parse_ref
    parsed = parse_ref(ref)
    if parsed.alias is None:
        raise RegistryError(f"expected NAME@ALIAS, not {ref!r}")
    return parsed.name, parsed.alias


def history(ref: AliasRef, registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Every move of NAME@ALIAS: when, who, from, to, how (move, promote, rollback) and why."""
    name, alias = _alias_ref(ref)
    rows = open_registry(registry).history(name, alias)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        console.print(f"{ref} has no recorded moves")
        return
    table = Table(title=f"{ref}: {len(rows)} move(s)")
    for col in ("when (UTC)", "user", "action", "from", "to", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.get("at", ""))[:19].replace("T", " "), str(r.get("user", "")),
                      str(r.get("action", "")), _v(r.get("from")), _v(r.get("to")),
                      str(r.get("reason") or ""))
    console.print(table)


def rollback(ref: AliasRef, reason: ReasonOpt = "",
             to: Annotated[Optional[int], typer.Option("--to", help="Version to move back to (default: the one before).")] = None,
             registry: RegistryOpt = None) -> None:
    """Move NAME@ALIAS back to the version it pointed at before (or --to N), recorded."""
    from mlops_dl.gates.promote import rollback as move_back

    name, alias = _alias_ref(ref)
    decision = move_back(open_registry(registry), name, alias, to, reason)  # history + audit log
    console.print(f"{ref} -> {decision['ref']} (was {decision['previous'] or '-'}); reason: {reason}")


def alias_remove(ref: AliasRef, reason: ReasonOpt = "", registry: RegistryOpt = None) -> None:
    """Remove an alias (the version it pointed at stays; the removal is recorded)."""
    name, alias = _alias_ref(ref)
    version = open_registry(registry).remove_alias(name, alias, reason)
    console.print(f"removed {ref} (was {name}:{version})")


def copy(ref: Annotated[str, typer.Argument(help="The version to copy: name, name:N or name@alias.")],
         dest: Annotated[str, typer.Argument(help="The registry to copy into: a folder or s3://bucket/prefix.")],
         name: Annotated[Optional[str], typer.Option("--name", help="Model name there (default: the same).")] = None,
         with_attestations: Annotated[bool, typer.Option(
             "--with-attestations", help="Also copy acceptance.json and promotion.json (promote "
             "there re-verifies their signed attestation).")] = False,
         registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Copy a verified version (files, attachments) into DEST under its next number there."""
    from mlops_dl.registry import open_registry

    src = open_registry(registry)
    mv = src.copy(ref, open_registry(dest), name, with_attestations=with_attestations)
    if as_json:
        typer.echo(json.dumps({"ref": mv.ref, "location": mv.location,
                               "copied_from": mv.meta.get("copied_from")}, indent=2))
        return
    console.print(f"copied {ref} from {src.location} to [bold]{mv.ref}[/] at {mv.location}")


def _v(version) -> str:
    return "-" if version is None else str(version)


def register(registry_app: typer.Typer) -> None:
    registry_app.command()(history)
    registry_app.command()(rollback)
    registry_app.command("alias-remove")(alias_remove)
    registry_app.command()(copy)
