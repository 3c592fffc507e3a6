"""``mlops-dl data prepare|profile``: build a prepared dataset, print its data card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlops_dl.cli.common import ConfigOpt, JsonOpt, SetOpt, load_config, make_console

console = make_console()
err_console = make_console(stderr=True)


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Prepare datasets (sources, cleaning, frozen splits) and "
                                "profile them.", no_args_is_help=True)
    data_app.command("prepare")(prepare)
    data_app.command("profile")(profile)
    app.add_typer(data_app, name="data")


def prepare(config: ConfigOpt, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Load the configured sources, clean, split and write <data.output_dir>/<data.name>."""
    from mlops_dl.data import load_prepared
    from mlops_dl.data import prepare as prepare_data
    from mlops_dl.data.build import subsample_lines

    cfg = load_config(config, set_)
    with err_console.status("preparing data") as status:
        root = prepare_data(cfg, config_path=config, progress=lambda m: status.update(m))
    card = load_prepared(root).card
    cuts = subsample_lines(card)
    if as_json:
        sources = [{k: s.get(k) for k in ("kind", "path", "split", "rows", "blank_lines")}
                   for s in card.get("sources", [])]
        typer.echo(json.dumps({"path": str(root), "sources": sources, "cleaning": card["cleaning"],
                               "splits": card["splits"], "fingerprints": card["fingerprints"],
                               "subsample": cuts}, indent=2))
        return
    for line in cuts + blank_line_notes(card):
        console.print(f"[yellow]{line}[/]", highlight=False, soft_wrap=True)
    console.print(cleaning_table(card))
    console.print(splits_table(card))
    plots = ", ".join(f"plots/{p.name}" for p in sorted((root / "plots").glob("*.png")))
    console.print(f"wrote [bold]{root}[/] (data_card.json, train/validation/test.parquet, "
                  f"{plots})")


def profile(
    target: Annotated[Path, typer.Argument(help="A prepared dataset directory or a config file.")],
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the data card of a prepared dataset (given as its directory or its config)."""
    from mlops_dl.data import load_prepared, output_path

    root = target
    if target.is_file():
        root = output_path(load_config(target, set_))
    prepared = load_prepared(root)
    card = prepared.card
    if as_json:
        typer.echo(json.dumps(card, indent=2, ensure_ascii=False))
        return
    console.print(overview_table(card, prepared.root))
    console.print(sources_table(card))
    console.print(cleaning_table(card))
    console.print(splits_table(card))
    console.print(lengths_table(card))


def blank_line_notes(card: dict) -> list[str]:
    """One line per source that had blank lines (skipped: they hold no row)."""
    return [f"source {i} ({Path(s.get('path', '')).name}): {s['blank_lines']} blank line(s) "
            f"skipped (no row)" for i, s in enumerate(card.get("sources", [])) if s.get("blank_lines")]


def overview_table(card: dict, root: Path) -> Table:
    table = Table(title=f"data card: {card.get('name', '?')}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("path", str(root))
    table.add_row("created", str(card.get("created", "")))
    table.add_row("labels", ", ".join(card.get("labels", [])))
    table.add_row("split method", str(card.get("split_method", "")))
    tok = card.get("tokenizer", {})
    table.add_row("tokenizer", tok.get("path", "") if tok.get("loaded") else
                  f"not loaded: {tok.get('skipped', '?')}")
    for split, fp in card.get("fingerprints", {}).items():
        table.add_row(f"fingerprint {split}", fp[:16] + "…")
    return table


def sources_table(card: dict) -> Table:
    labels = card.get("labels", [])
    table = Table(title="sources (before cleaning; full paths and sha256 in --json)")
    for col in ("#", "kind", "file / hub id", "split", "rows", "blank lines", *labels):
        table.add_column(col, justify="right" if col in ("rows", "blank lines", *labels) else "left")
    for i, src in enumerate(card.get("sources", [])):
        where = Path(src["path"]).name if src.get("path") else \
            f"{src.get('hub_id')} {src.get('hub_config', '')}".strip()
        bal = src.get("label_balance", {})
        table.add_row(str(i), src.get("kind", ""), where, src.get("split", ""),
                      f"{src.get('rows', 0):,}", f"{src.get('blank_lines', 0):,}",
                      *(f"{bal.get(n, 0):,}" for n in labels))
    before = card.get("label_balance_before_cleaning", {})
    table.add_row("", "", "all", "", f"{sum(before.values()):,}", "",
                  *(f"{before.get(n, 0):,}" for n in labels), style="bold")
    return table


def cleaning_table(card: dict) -> Table:
    c = card["cleaning"]
    table = Table(title="cleaning (each step counted; rows in = rows out + drops)")
    for col in ("step", "changed", "dropped", "rows after"):
        table.add_column(col, justify="left" if col == "step" else "right")
    table.add_row("input", "", "", f"{c['rows_in']:,}")
    for s in c["steps"]:
        table.add_row(s["step"], f"{s['changed']:,}" if "changed" in s else "",
                      f"{s['dropped']:,}" if "dropped" in s else "", f"{s['rows']:,}")
    dropped = sum(c["dropped"].values())
    table.add_row("total", "", f"{dropped:,}", f"{c['rows_out']:,}", style="bold")
    table.caption = f"{c['rows_in']:,} in = {c['rows_out']:,} out + {dropped:,} dropped"
    masking = next((s for s in c["steps"] if "entities_masked" in s), None)
    if masking:  # per entity, and whether names could be found
        found = ", ".join(f"{e} {n:,}" for e, n in masking["entities_masked"].items())
        table.caption += f"\nmasked: {found}\nname detection: {masking['ner_model']}"
    return table


def splits_table(card: dict) -> Table:
    labels = card["labels"]
    table = Table(title="splits and label balance")
    for col in ("split", "rows", *labels):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, bal in card["label_balance"].items():
        n = card["splits"][split]
        table.add_row(split, f"{n:,}", *(f"{bal[x]:,} ({bal[x] / max(n, 1):.1%})" for x in labels))
    return table


def lengths_table(card: dict) -> Table:
    table = Table(title="text length (characters / tokens)")
    for col in ("split", "unit", "min", "mean", "p50", "p95", "p99", "max", "> max_length"):
        table.add_column(col, justify="left" if col in ("split", "unit") else "right")
    for split, units in card.get("lengths", {}).items():
        for unit, st in units.items():
            if not st.get("count"):
                continue
            cells = [str(st[k]) for k in ("min", "mean", "p50", "p95", "p99", "max")]
            table.add_row(split, unit, *cells, str(st.get("over_max_length", "")))
    return table
