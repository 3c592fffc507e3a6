"""MLflow tracking of a training run (``train.logger: mlflow``) through Lightning's MLFlowLogger.

``open_tracker`` checks the tracking server answers (one line if not) and opens the MLflow run
(the same run again on ``--resume``); Lightning logs the per-step metrics through it; ``finish``
logs the final figures, the data fingerprints and the run dir's reports as artifacts and writes
``tracking.json`` (run id, URL, logging errors) into the run dir. A server that goes away
mid-run does not stop the training: each failed call is counted and reported once at the end;
the run dir's own files are written as always.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger

from mlops_dl import config as config_mod
from mlops_dl.config import Config
from mlops_dl.errors import MlopsError, clip
from mlops_dl.train import rundir

URI_ENV = "MLFLOW_TRACKING_URI"
PARENT_ENV = "MLOPS_DL_MLFLOW_PARENT_RUN"  # a search's parent run: trials become nested runs
PARENT_TAG = "mlflow.parentRunId"
ARTIFACTS = (rundir.CONFIG, rundir.DATA, rundir.ENV, rundir.METRICS, f"{rundir.LOGS}/metrics.csv")
# a dead server must cost seconds, not mlflow's default of 7 retries with backoff
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
log = logging.getLogger("mlops_dl.train")


def tracking_uri(cfg: Config) -> str:
    uri = cfg.train.mlflow.tracking_uri or os.environ.get(URI_ENV, "")
    if not uri:
        raise MlopsError(f"train.logger: mlflow needs train.mlflow.tracking_uri or ${URI_ENV} "
                         "(e.g. http://127.0.0.1:5000)")  # fmt: skip
    return uri


def import_mlflow():
    try:
        import mlflow
    except ImportError:
        raise MlopsError("train.logger: mlflow needs the mlflow package: "
                         "pip install 'mlops-dl[mlflow]'") from None  # fmt: skip
    return mlflow


def check_reachable(uri: str) -> None:
    """One short request to the tracking server; MlopsError naming it when it does not answer."""
    from mlflow.tracking import MlflowClient

    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - connection refused, DNS, HTTP 5xx, bad store URI
        raise MlopsError(f"MLflow tracking server {uri} unreachable (train.mlflow.tracking_uri / "
                         f"${URI_ENV}): {clip(str(e).splitlines()[0] if str(e) else type(e).__name__)}") from None


class TolerantMLFlowLogger(MLFlowLogger):
    """MLFlowLogger whose calls never stop the training: failures are counted, kept once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors, self.first_error = 0, ""

    def guard(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the server is gone: count, keep training
            self.errors += 1
            self.first_error = self.first_error or clip(f"{type(e).__name__}: {e}".splitlines()[0])
            return None

    def log_metrics(self, metrics, step=None) -> None:
        self.guard(super().log_metrics, metrics, step)

    def log_hyperparams(self, params) -> None:
        self.guard(super().log_hyperparams, params)

    def finalize(self, status: str = "success") -> None:
        self.guard(super().finalize, status)

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.guard(super().after_save_checkpoint, checkpoint_callback)


class Tracker:
    """No MLflow (another logger, or a rank other than 0): no loggers, nothing at the end."""

    def loggers(self) -> list:
        return []

    def finish(self, run_dir: Path, result, fingerprints: dict) -> dict | None:
        return None


class MlflowTracker(Tracker):
    def __init__(self, logger: TolerantMLFlowLogger, uri: str):
        self.logger, self.uri = logger, uri

    def loggers(self) -> list:
        return [self.logger]

    def record(self) -> dict:
        lg = self.logger
        url = f"{self.uri.rstrip('/')}/#/experiments/{lg._experiment_id}/runs/{lg._run_id}"
        return {"tracking_uri": self.uri, "experiment_id": lg._experiment_id, "run_id": lg._run_id,
                "url": url if self.uri.startswith(("http://", "https://")) else "",
                "logging_errors": lg.errors, "first_error": lg.first_error}  # fmt: skip

    def finish(self, run_dir: Path, result, fingerprints: dict) -> dict:
        """Final figures, data fingerprints and the run dir's reports; tracking.json; the record."""
        lg, client = self.logger, self.logger._mlflow_client
        run_id = lg._run_id
        lg.guard(client.log_param, run_id, "effective_batch_size", result.effective_batch_size)
        lg.guard(client.log_param, run_id, "world_size", result.world_size)
        for split, fp in fingerprints.items():
            lg.guard(client.set_tag, run_id, f"data.fingerprint.{split}", fp)
        final = {"best_val_macro_f1": result.best_score, "global_step": result.global_step,
                 "duration_s": result.duration_s}  # fmt: skip
        report = rundir.read_metrics(run_dir).get("validation") or {}
        final.update({f"best_val_{k}": report[k] for k in ("accuracy", "macro_precision", "macro_recall")
                      if isinstance(report.get(k), (int, float))})  # fmt: skip
        for key, value in final.items():
            if value is not None:
                lg.guard(client.log_metric, run_id, key, float(value), step=result.global_step)
        for name in ARTIFACTS:
            path = Path(run_dir) / name
            if path.is_file():
                lg.guard(client.log_artifact, run_id, str(path))
        lg.finalize("success")  # idempotent: Lightning may have ended the run already
        record = self.record()
        rundir.write_tracking(run_dir, record)
        if lg.errors:
            log.warning("MLflow: %d logging call(s) failed (first: %s); the run dir %s has "
                        "everything", lg.errors, lg.first_error, run_dir)  # fmt: skip
        return record


def open_tracker(cfg: Config, run_dir: Path, rank_zero: bool) -> Tracker:
    """The run's tracker: MLflow on rank 0 when ``train.logger`` is mlflow, else a no-op."""
    if cfg.train.logger != "mlflow" or not rank_zero:
        return Tracker()
    import_mlflow()
    uri = tracking_uri(cfg)
    check_reachable(uri)
    earlier = rundir.read_tracking(run_dir) or {}  # a resumed run keeps its MLflow run
    parent = os.environ.get(PARENT_ENV, "")
    logger = TolerantMLFlowLogger(
        experiment_name=cfg.train.mlflow.experiment, run_name=cfg.train.mlflow.run_name or run_dir.name,
        tracking_uri=uri, tags={PARENT_TAG: parent} if parent else None,
        run_id=earlier.get("run_id") if earlier.get("tracking_uri") == uri else None,
    )  # fmt: skip
    try:
        _ = logger.experiment  # create the experiment and the run now (server checked just above)
    except Exception as e:  # noqa: BLE001
        raise MlopsError(f"MLflow tracking server {uri}: cannot open a run: {clip(str(e))}") from None
    logger.log_hyperparams(flat_params(cfg))
    tracker = MlflowTracker(logger, uri)
    rundir.write_tracking(run_dir, tracker.record())  # a killed run can be found in MLflow too
    return tracker


def flat_params(cfg: Config) -> dict:
    """The model and train sections and the dataset name as flat dotted params."""
    doc = config_mod.to_dict(cfg)
    out = {"data.name": doc["data"]["name"]}
    for section in ("model", "train"):
        for key, value in _flatten(doc[section], section).items():
            out[key] = value
    return out


def _flatten(value, prefix: str) -> dict:
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def start_parent_run(cfg: Config, name: str) -> str:
    """A search's parent run (trials log nested under it); its run id."""
    import_mlflow()
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(cfg)
    check_reachable(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(cfg.train.mlflow.experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(cfg.train.mlflow.experiment)
    run = client.create_run(exp_id, run_name=name, tags={"mlops_dl.kind": "search"})
    return run.info.run_id


def end_parent_run(cfg: Config, run_id: str, summary: dict) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(cfg))
    try:
        figures = {f"trials_{k}": v for k, v in (summary.get("states") or {}).items()}
        if summary.get("best"):
            figures["best_val_macro_f1"] = summary["best"]["value"]
            client.set_tag(run_id, "best_trial", summary["best"]["number"])
        for key, value in figures.items():
            client.log_metric(run_id, key, float(value))
        client.set_terminated(run_id)
    except Exception as e:  # noqa: BLE001 - the search's own report is written either way
        log.warning("MLflow: could not close the search run %s: %s", run_id, clip(str(e)))
