"""Benchmark output: the rich tables and the PNG chart of a bench.json report."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from mlops_dl import files
from mlops_dl.metrics import F1_CHANGE_HEAD, engine_label, format_f1_change


def _f(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(report: dict, console) -> None:
    engines = report["engines"]
    hw = report["hardware"]
    console.print(f"[bold]{report['model']}[/] on {hw['cpu']} ({hw['cores']} cores), "
                  f"{report['data']['texts']} texts from {report['data']['source']}; "
                  f"{report['date']}")
    table = Table(title="real texts: batch-1 latency; stream at batch 32 in arrival order and "
                  "length-sorted in windows; macro-F1 on the labels")
    table.add_column("engine", no_wrap=True)
    for col in ("b1 p50 ms", "b1 p95 ms", "b1 p99 ms", "stream sent/s in order",
                "stream sent/s sorted", "macro-F1", "RSS MB"):
        table.add_column(col, justify="right")
    for name, e in engines.items():
        b1 = e.get("batch1", {})
        table.add_row(name, _f(b1.get("p50_ms"), 2), _f(b1.get("p95_ms"), 2),
                      _f(b1.get("p99_ms"), 2), _f(e.get("stream", {}).get("sent_per_s")),
                      _f(e.get("stream_sorted", {}).get("sent_per_s")),
                      _f(e.get("macro_f1"), 4), _f(e.get("peak_rss_mb"), 0))
    console.print(table)
    shapes = sorted({s for e in engines.values() for s in e.get("shapes", {})},
                    key=lambda s: tuple(int(x[1:]) for x in s.split("_")))
    if shapes:
        table = Table(title="fixed shapes BxT: sentences/s (ms per batch)")
        table.add_column("engine", no_wrap=True)
        for s in shapes:
            table.add_column(s[1:].replace("_t", "x"), justify="right")
        for name, e in engines.items():
            cells = [f"{e['shapes'][s]['sent_per_s']:.0f} ({e['shapes'][s]['ms']:.1f})"
                     if s in e.get("shapes", {}) else "-" for s in shapes]
            table.add_row(name, *cells)
        console.print(table)
    _print_tuning(engines, console)
    r = report.get("ratios", {})
    if r:
        met = r.get("met", {})
        mark = {True: "[green]met[/]", False: "[red]not met[/]"}
        console.print(f"best variant: [bold]{r['best_variant']}[/]")
        if "stream_speedup" in r:
            console.print(f"  stream speed-up vs PyTorch eager: {r['stream_speedup']:.2f}x "
                          f"(target >= 6x: {mark[met['stream_speedup']]}; ours sorted vs eager "
                          f"in arrival order); same policy: sorted "
                          f"{r['stream_speedup_same_policy']:.2f}x, in order "
                          f"{r['stream_speedup_in_order']:.2f}x")
            console.print(f"  batch-1 p50 speed-up: {r['b1_p50_speedup']:.2f}x "
                          f"(target >= 6x: {mark[met['b1_p50_speedup']]})")
        if "f1_loss_pts" in r:
            console.print(f"  {F1_CHANGE_HEAD} of {engine_label(r['best_variant'].removeprefix('onnx-'))}: "
                          f"{format_f1_change(-r['f1_loss_pts'])} (target >= -0.50 pts: "
                          f"{mark[met['f1_loss']]})")
        console.print(f"  p99/p50 at batch 1: {r['p99_over_p50']:.2f} "
                      f"(target <= 1.5: {mark[met['p99_over_p50']]})")
    console.print(f"PyTorch baseline: {report['pytorch_baseline']}; Optimum peer: "
                  f"{report['optimum_peer']}")
    console.print(f"chart: {report['chart']}  (noisy: 2 shared cores; compare ratios within "
                  "one run)")


def _print_tuning(engines: dict, console) -> None:
    rows = [r for e in engines.values() for r in e.get("tuning", [])]
    if not rows:
        return
    table = Table(title="int8 session settings, batch-1 p50 ms on real texts")
    for col in ("threads", "spinning", "graph", "neighbour", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["threads"] or "default"), "on" if r["spinning"] else "off",
                      r["graph"], r["neighbour"], _f(r["p50_ms"], 2), _f(r["p99_ms"], 2))
    console.print(table)


def write_chart(report: dict, path: str | Path) -> Path:
    """Three bars per engine: stream sent/s, batch-1 p50 ms, B=32 x T=128 sent/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engines = report["engines"]
    names = list(engines)
    panels = [("real stream, batch 32, sorted (sent/s)",
               lambda e: e.get("stream_sorted", {}).get("sent_per_s")),
              ("batch-1 p50 latency (ms)", lambda e: e.get("batch1", {}).get("p50_ms")),
              ("B=32 x T=128 (sent/s)",
               lambda e: e.get("shapes", {}).get("b32_t128", {}).get("sent_per_s"))]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (title, get) in zip(axes, panels):
        values = [get(engines[n]) or 0.0 for n in names]
        bars = ax.bar(range(len(names)), values, color="#4C72B0")
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    fig.suptitle(f"{report['model']} - {report['hardware']['cpu']} ({report['date'][:10]})",
                 fontsize=9)
    fig.tight_layout()
    try:
        return files.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110), ".png")
    finally:
        plt.close(fig)
