"""Benchmark output: the rich tables and the PNG chart of a bench.json report."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from mlops_dl import files


def _f(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def print_report(report: dict, console) -> None:
    engines = {k: v for k, v in report["engines"].items() if "skipped" not in v}
    hw = report["hardware"]
    console.print(f"[bold]{report['model']}[/] on {hw['cpu']} ({hw['cores']} cores; flags: "
                  f"{' '.join(hw.get('cpu_flags', [])) or '?'}"
                  f"{'; GPU ' + hw['gpu'] if hw.get('gpu') else ''}), "
                  f"{report['data']['texts']} texts from {report['data']['source']}; "
                  f"{report['date']}", highlight=False)
    peaks = report.get("peaks") or {}
    if peaks:
        source = peaks.get("source") or {}
        rates = ", ".join(f"{t} {peaks[t]:.0f} ({source.get(t, '?')})" if peaks.get(t) else
                          f"{t} - ({(peaks.get('skipped') or {}).get(t, 'not measured')})"
                          for t in ("fp32", "bf16", "int8"))
        console.print(f"peaks, the best any engine reached here (GFLOP/s, GOP/s for int8): "
                      f"{rates}", highlight=False)
    budget = (report.get("options") or {}).get("token_budget")
    table = Table(title="real texts: batch-1 latency; stream at batch 32 in arrival order and "
                  "length-sorted in windows, and in the same token-budget batches for every "
                  f"engine ({budget or '-'} padded tokens); macro-F1 on the labels (in order / "
                  "token batches); share of the GEMM peak of the engine's compute type")
    table.add_column("engine", no_wrap=True)
    for col in ("compute", "b1 p50 ms", "b1 p99 ms", "p99/p50", "stream sent/s in order",
                "stream sent/s sorted", "stream sent/s tokens", "macro-F1", "macro-F1 tokens",
                "peak b32x128", "peak stream", "RSS MB"):
        table.add_column(col, justify="right")
    for name, e in engines.items():
        b1, peak = e.get("batch1", {}), e.get("peak") or {}
        ratio = b1["p99_ms"] / b1["p50_ms"] if b1.get("p50_ms") else None
        if e.get("batch_invariant") is False:
            name += " (varies with batch)"
        table.add_row(name, e.get("compute", "-"), _f(b1.get("p50_ms"), 2),
                      _f(b1.get("p99_ms"), 2), _f(ratio, 2),
                      _f(e.get("stream", {}).get("sent_per_s")),
                      _f(e.get("stream_sorted", {}).get("sent_per_s")),
                      _f(e.get("stream_tokens", {}).get("sent_per_s")),
                      _f(e.get("macro_f1"), 4), _f(e.get("macro_f1_tokens"), 4),
                      _pct(peak.get("b32_t128_fraction")),
                      _pct(peak.get("stream_fraction")), _f(e.get("peak_rss_mb"), 0))
    console.print(table)
    for name, e in report["engines"].items():
        if "skipped" in e:
            console.print(f"[dim]{name}: {e['skipped']}[/]", highlight=False)
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
    _print_ratios(report.get("ratios", {}), console)
    rec = report.get("recommendation") or {}
    for command in ("serve", "predict"):
        if command in rec:
            console.print(f"engine/variant auto: `{command}` would choose [bold]"
                          f"{rec[command].get('servable') or 'nothing'}[/] "
                          f"({rec[command].get('why', '')})", highlight=False)
    console.print(f"PyTorch baseline: {report['pytorch_baseline']}; Optimum peer: "
                  f"{report['optimum_peer']}")
    console.print(f"chart: {report['chart']}  (noisy: 2 shared cores; compare ratios within "
                  "one run)")


def _print_ratios(r: dict, console) -> None:
    from mlops_dl.metrics import F1_CHANGE_HEAD, format_f1_change

    if not r:
        return
    met = r.get("met", {})
    mark = {True: "[green]met[/]", False: "[red]not met[/]"}

    def target(key: str) -> str:
        return f" ({mark[met[key]]})" if key in met else ""
    console.print(f"best of ours: [bold]{r['best_variant']}[/]  (targets on every CPU; this "
                  f"one: {r.get('machine_class', '?')})")
    console.print(f"  like for like: {r.get('policy', 'stream_sorted')}: "
                  f"{r.get('policy_note', 'both length-sorted')}", highlight=False)
    if "stream_speedup_vs_best_pytorch" in r:
        console.print(f"  stream vs the best PyTorch engine ({r['best_pytorch']}): "
                      f"{r['stream_speedup_vs_best_pytorch']:.2f}x"
                      f"{target('stream_speedup_vs_best_pytorch')} (best of each: "
                      f"{_beside(r, 'stream_speedup_vs_best_pytorch')}); batch-1 "
                      f"p50 vs the fastest PyTorch: {r['b1_p50_speedup_vs_best_pytorch']:.2f}x")
    if "stream_speedup" in r:
        console.print(f"  vs PyTorch fp32 eager: stream {r['stream_speedup']:.2f}x"
                      f"{target('stream_speedup')} ({_beside(r, 'stream_speedup')})"
                      f"; batch-1 p50 {r['b1_p50_speedup']:.2f}x{target('b1_p50_speedup')}")
    if "f1_loss_pts" in r:
        console.print(f"  {F1_CHANGE_HEAD} of {r['best_variant']}: "
                      f"{format_f1_change(-r['f1_loss_pts'])} (target >= -0.50 pts"
                      f"{target('f1_loss')})")
    if "served" in r:
        console.print(f"  p99/p50 at batch 1 of {r['served']} (what `serve` chooses): "
                      f"{r['served_p99_over_p50']:.2f} (target <= 1.5{target('p99_over_p50')}); "
                      f"of {r['best_variant']}: {r['p99_over_p50']:.2f}", highlight=False)
    else:
        console.print(f"  p99/p50 at batch 1: {r['p99_over_p50']:.2f} (target <= 1.5"
                      f"{target('p99_over_p50')})")
    if "peak_fraction_stream" in r:
        console.print(f"  share of the best rate measured here for its compute type: stream "
                      f"{100 * r['peak_fraction_stream']:.0f}% (target >= 70%"
                      f"{target('peak_fraction')}), b32x128 "
                      f"{100 * r.get('peak_fraction_b32_t128', 0):.0f}%")
    if "ct2_vs_ours" in r:
        console.print(f"  CTranslate2 peer {r['best_ct2']} vs {r['best_variant']}: stream "
                      f"{r['ct2_vs_ours']:.2f}x, batch-1 p50 {r['ct2_b1_p50_vs_ours']:.2f}x "
                      f"(> 1: the peer is faster; a bench engine, not a servable)",
                      highlight=False)
    if "no_regression_vs_int8" in met:
        console.print(f"  no regression vs today's onnxruntime int8: "
                      f"{mark[met['no_regression_vs_int8']]}")


def _beside(r: dict, key: str) -> str:
    """The other policies' ratios of ``key``: 'in order 1.20x, sorted 1.50x'."""
    parts = [f"{name.replace('_', ' ')} {r[f'{key}_{name}']:.2f}x"
             for name in ("in_order", "sorted", "tokens") if f"{key}_{name}" in r]
    return ", ".join(parts) or "no other policy"


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
    """Three panels per engine: stream sent/s (sorted, and token batches beside when
    measured), batch-1 p50 ms, B=32 x T=128 sent/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engines = {k: v for k, v in report["engines"].items() if "skipped" not in v}
    names = list(engines)
    panels = [("real stream, batch 32, sorted (sent/s)",
               lambda e: e.get("stream_sorted", {}).get("sent_per_s")),
              ("batch-1 p50 latency (ms)", lambda e: e.get("batch1", {}).get("p50_ms")),
              ("B=32 x T=128 (sent/s)",
               lambda e: e.get("shapes", {}).get("b32_t128", {}).get("sent_per_s"))]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    tokens = [e.get("stream_tokens", {}).get("sent_per_s") or 0.0 for e in engines.values()]
    if any(tokens):
        panels[0] = ("real stream sent/s: batch 32 sorted | token batches", panels[0][1])
    for i, (ax, (title, get)) in enumerate(zip(axes, panels)):
        values = [get(engines[n]) or 0.0 for n in names]
        _bars(ax, [values, tokens] if i == 0 and any(tokens) else [values])
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"{report['model']} - {report['hardware']['cpu']} ({report['date'][:10]})",
                 fontsize=9)
    fig.tight_layout()
    try:
        return files.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110), ".png")
    finally:
        plt.close(fig)


def _bars(ax, series: list[list[float]]) -> None:
    """One bar group per engine: the series side by side, each bar labelled."""
    width = 0.8 / len(series)
    for k, (values, color) in enumerate(zip(series, ("#4C72B0", "#DD8452"))):
        x = [j + (k - (len(series) - 1) / 2) * width for j in range(len(values))]
        bars = ax.bar(x, values, width=width, color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=7 if len(series) == 1 else 6)
