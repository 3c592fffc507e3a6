"""Vega-Lite specs for the UI's charts, built from plain rows (rendered in the page by vega-embed).

Every spec carries its data inline (``data.values``): the browser fetches nothing for a chart.
"""

from __future__ import annotations

WIDTH = "container"
HEIGHT = 220
FLAT = {"labelAngle": 0, "labelLimit": 140}  # category labels read left to right
TIME_AXIS = {"format": "%b %d %H:%M", "labelAngle": -30}  # the hour is always shown
SENTIMENT_COLOURS = {"negative": "#dc2626", "neutral": "#9ca3af", "positive": "#16a34a"}


def _base(title: str, values: list[dict], **extra) -> dict:
    return {"title": title, "width": WIDTH, "height": HEIGHT, "data": {"values": values},
            "config": {"font": "sans-serif", "view": {"stroke": None}}, **extra}


def metric_across_versions(rows: list[dict], measure: str = "metrics across versions") -> dict:
    """rows: {version, metric, value}: one measure (``measure`` says which), one line per n."""
    return _base(measure, rows, mark={"type": "line", "point": True},
                 encoding={"x": {"field": "version", "type": "ordinal", "title": "version", "axis": FLAT},
                           "y": {"field": "value", "type": "quantitative", "title": "score",
                                 "scale": {"domain": [0, 1]}},
                           "color": {"field": "metric", "type": "nominal", "title": None},
                           "tooltip": [{"field": "version"}, {"field": "metric"},
                                       {"field": "value", "format": ".4f"}]})


def grouped_bars(title: str, rows: list[dict], x: str, y: str, group: str,
                 y_title: str | None = None, domain: list | None = None) -> dict:
    """Bars of ``y`` per ``x``, one bar per ``group`` side by side."""
    scale = {"domain": domain} if domain else {}
    return _base(title, rows, mark={"type": "bar", "tooltip": True},
                 encoding={"x": {"field": x, "type": "nominal", "title": None, "sort": None,
                                 "axis": FLAT},
                           "xOffset": {"field": group, "type": "nominal", "sort": None},
                           "y": {"field": y, "type": "quantitative", "title": y_title or y,
                                 "scale": scale},
                           "color": {"field": group, "type": "nominal", "title": None, "sort": None}})


def heatmap(title: str, rows: list[dict], x: str, y: str, value: str, text: str,
            x_title: str, y_title: str, domain: list | None = None) -> dict:
    """A matrix (confusion, agreement): coloured cells with their figure written in."""
    enc = {"x": {"field": x, "type": "nominal", "title": x_title, "sort": None, "axis": FLAT},
           "y": {"field": y, "type": "nominal", "title": y_title, "sort": None}}
    scale = {"scheme": "blues", **({"domain": domain} if domain else {})}
    return _base(title, rows, encoding=enc, layer=[
        {"mark": {"type": "rect", "tooltip": True},
         "encoding": {"color": {"field": value, "type": "quantitative", "scale": scale,
                                "legend": None}}},
        {"mark": {"type": "text", "fontSize": 13},
         "encoding": {"text": {"field": text, "type": "nominal"},
                      "color": {"condition": {"test": f"datum['{value}'] > 0.6", "value": "white"},
                                "value": "black"}}}])


def lines_over_time(title: str, rows: list[dict], y: str, series: str, y_title: str,
                    rules: list[dict] | None = None, x: str = "time", y_scale: str = "linear") -> dict:
    """Lines of ``y`` against time per ``series``; ``rules``: [{value, label, color}] drawn as
    dashed horizontal lines (thresholds)."""
    layers = [{"mark": {"type": "line", "point": True, "tooltip": True},
               "encoding": {"x": {"field": x, "type": "temporal", "title": "time (UTC)",
                                  "scale": {"type": "utc"}, "axis": TIME_AXIS},
                            "y": {"field": y, "type": "quantitative", "title": y_title,
                                  "scale": {"type": y_scale}},
                            "color": {"field": series, "type": "nominal", "title": None}}}]
    if rules:
        scale = {"domain": [r["label"] for r in rules], "range": [r["color"] for r in rules]}
        layers.append({"data": {"values": rules},
                       "mark": {"type": "rule", "strokeDash": [6, 4], "strokeWidth": 1.5},
                       "encoding": {"y": {"field": "value", "type": "quantitative"},
                                    "color": {"field": "label", "type": "nominal", "scale": scale,
                                              "title": None}}})
    spec = _base(title, rows, layer=layers)
    if rules:
        spec["resolve"] = {"scale": {"color": "independent"}}
    return spec


def estimate_over_time(title: str, rows: list[dict], rules: list[dict]) -> dict:
    """rows: {time, series, f1, lo, hi}; the estimate's interval as a band, a line per series
    (estimated, measured), ``rules`` [{value, label, color}] as dashed lines."""
    band = {"transform": [{"filter": "datum.lo != null"}],
            "mark": {"type": "area", "opacity": 0.2},
            "encoding": {"x": {"field": "time", "type": "temporal", "title": None},
                         "y": {"field": "lo", "type": "quantitative"}, "y2": {"field": "hi"},
                         "color": {"field": "series", "type": "nominal", "legend": None}}}
    spec = lines_over_time(title, rows, "f1", "series", "macro-F1", rules)
    spec["layer"].insert(0, band)
    spec["layer"][1]["encoding"]["y"]["scale"] = {"domain": [0, 1]}
    return spec


def class_mix(rows: list[dict]) -> dict:
    """rows: {time, label, share}; stacked shares of the predicted classes per window."""
    return _base("predicted-class mix per window", rows, mark={"type": "bar", "tooltip": True},
                 encoding={"x": {"field": "time", "type": "ordinal", "title": "slice start (UTC)",
                                 "timeUnit": "utcyearmonthdatehoursminutes",
                                 "axis": {**FLAT, "format": "%b %d %H:%M"}},
                           "y": {"field": "share", "type": "quantitative", "stack": "normalize",
                                 "title": "share"},
                           "color": {"field": "label", "type": "nominal", "title": None,
                                     **label_colours(sorted({r["label"] for r in rows}))}})


def label_colours(labels: list[str]) -> dict:
    """Sentiment labels in their colours (negative red, neutral grey, positive green); {} for
    any other label set (the default palette)."""
    if not labels or not set(labels) <= set(SENTIMENT_COLOURS):
        return {}
    order = [lab for lab in SENTIMENT_COLOURS if lab in labels]
    return {"scale": {"domain": order, "range": [SENTIMENT_COLOURS[lab] for lab in order]},
            "sort": order}


def learning_curves(rows: list[dict], colour: str = "series", dash: str | None = None) -> dict:
    """rows: {step, series, value[, run]}: losses and validation macro-F1, each in its own
    panel; a colour per ``colour`` field, a dash per ``dash`` field (runs overlaid)."""
    encoding = {"x": {"field": "step", "type": "quantitative"},
                "y": {"field": "value", "type": "quantitative", "title": None},
                "color": {"field": colour, "type": "nominal",
                          "title": None if colour == "series" else colour}}
    if dash:
        encoding["strokeDash"] = {"field": dash, "type": "nominal", "title": None}
    return {"data": {"values": rows}, "config": {"font": "sans-serif"},
            "facet": {"row": {"field": "panel", "type": "nominal", "title": None}},
            "resolve": {"scale": {"y": "independent"}},
            "spec": {"width": 640, "height": 180, "mark": {"type": "line", "tooltip": True},
                     "encoding": encoding}}


def trials(rows: list[dict]) -> dict:
    """rows: {number, value, state}; each trial's objective value."""
    return _base("trials", rows, mark={"type": "point", "filled": True, "size": 70, "tooltip": True},
                 encoding={"x": {"field": "number", "type": "quantitative", "title": "trial",
                                 "axis": {"tickMinStep": 1, "format": "d"}},
                           "y": {"field": "value", "type": "quantitative",
                                 "title": "validation macro-F1", "scale": {"zero": False}},
                           "color": {"field": "state", "type": "nominal", "title": None}})


def curves_overlay(rows: list[dict]) -> dict:
    """rows: {step, series, panel, value, run}; every run's curves in the same panels, a colour
    per run, a dash per series (train vs validation loss)."""
    spec = learning_curves(rows, colour="run", dash="series")
    spec["spec"]["encoding"]["detail"] = {"field": "series"}
    return spec

