"""The HTTP serving layer over a :class:`mlops_dl.runtime.Predictor` (no torch).

app.py (create_app: state, lifespan, route groups) · routes.py (errors, health,
readiness, metrics) · v1.py (POST /v1/predict) · batcher.py (dynamic micro-batching across
requests) · swap.py (hot swap when the served alias moves) · predlog.py (the prediction log)
· telemetry.py (Prometheus metrics) · scoring.py (offline batch scoring of csv/tsv/jsonl/parquet, read by mlops_dl.tables).
"""
