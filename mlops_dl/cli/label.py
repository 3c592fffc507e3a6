"""`mlops-dl label queue | import`: uncertain logged predictions out, annotations back in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import (CanvasOpt, JsonOpt, LogOpt, SinceOpt, UntilOpt,
                                 echo_json, load_canvas_file, make_console)
from mlops_dl.errors import MlopsError

console = make_console()

label_app = typer.Typer(help="Labelling queue from the log; import annotations as feedback.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(label_app, name="label")


@label_app.command("queue")
def label_queue(log: LogOpt = None,
                n: Annotated[Optional[int], typer.Option("--n", help="Rows (default: canvas feedback.queue_size).")] = None,
                out: Annotated[Path, typer.Option("--out", help="CSV for annotators.")] = Path("queue.csv"),
                canvas: CanvasOpt = None, since: SinceOpt = None, until: UntilOpt = None,
                measure: Annotated[Optional[str], typer.Option("--measure", help="margin or entropy (default: canvas).")] = None) -> None:
    """The most uncertain logged predictions, deduplicated and PII-masked, as CSV."""
    if not log:
        raise MlopsError("label queue needs --log PATH")
    from mlops_dl.monitor import feedback as label
    from mlops_dl.monitor import read_window

    c = load_canvas_file(canvas)
    win = read_window(log, since, until)
    folder = Path(c.feedback.dir) / c.feedback.dataset
    done = label.labelled_ids(folder)
    queue = label.build_queue(win.records, n or c.feedback.queue_size, measure or c.feedback.uncertainty, done)
    label.write_csv(queue, out)
    console.print(f"{len(queue)} rows ({measure or c.feedback.uncertainty}, most uncertain first) from "
                  f"{len(win.records)} logged predictions ({win.malformed} malformed lines skipped, "
                  f"{len(done)} already labelled texts excluded) -> {out}; fill the 'gold' column")


@label_app.command("import")
def label_import(file: Annotated[Path, typer.Argument(help="The annotated queue CSV.")],
                 feedback_dir: Annotated[Optional[Path], typer.Option("--feedback-dir", help="Default: canvas feedback.dir.")] = None,
                 dataset: Annotated[Optional[str], typer.Option("--dataset", help="Default: canvas feedback.dataset.")] = None,
                 canvas: CanvasOpt = None,
                 data: Annotated[Optional[Path], typer.Option("--data", help="The prepared training dataset: its test texts are excluded, and new labels are counted from the feedback version it pooled.")] = None,
                 as_json: JsonOpt = False) -> None:
    """Validate annotations and write the next version of the feedback dataset."""
    from mlops_dl.monitor import feedback as label

    c = load_canvas_file(canvas)
    exclude = label.frozen_test_texts(data) if data else None
    folder = Path(feedback_dir or c.feedback.dir) / (dataset or c.feedback.dataset)
    entry = label.import_labels(file, c.labels, folder.parent, folder.name, exclude)
    new, pooled = label.new_since_training(folder, data)
    entry.update(new_since_training=new, pooled_version=pooled)
    if as_json:
        echo_json(entry)
        return
    console.print(f"feedback v{entry['version']}: {entry['rows']} rows ({entry['added']} added, "
                  f"{entry['relabelled']} relabelled, {entry['unchanged']} unchanged, {entry['blank']} "
                  f"left blank, {entry['excluded_test_texts']} test texts excluded) -> {entry['path']}")
    console.print("pool it into training with this data-config source:\n" + entry["source_snippet"])
    if pooled:
        since = f"since feedback v{pooled}, the version {data} was prepared with"
    else:
        since = ("(the prepared data pools no feedback version yet)" if data else
                 "(all of them; pass --data with the training data to count only newer ones)")
    verdict = ("[green]worth a retrain[/]" if new >= c.feedback.min_new_labels else "not yet")
    console.print(f"{new} new feedback labels {since}; feedback.min_new_labels "
                  f"{c.feedback.min_new_labels}: {verdict}")


