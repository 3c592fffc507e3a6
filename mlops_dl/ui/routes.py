"""The UI's pages: every one a GET with a stable URL; the two changes (rollback, label) are POSTs
that need the token."""

from __future__ import annotations

from typing import Annotated, Optional
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mlops_dl.errors import MlopsError
from mlops_dl.monitor.window import log_files
from mlops_dl.numbers import parse_count
from mlops_dl.registry import check_alias, check_name
from mlops_dl.ui import catalog, comparison, labelling, monitoring, runs
from mlops_dl.ui.app import UI, FormError, Refused, form_fields

Versions = Annotated[list[str], Query(alias="v", description="versions to compare")]
Maybe = Optional[str]
VERSION_DIGITS = 9


def version_number(text: str, field: str = "version") -> int:
    """A version from a URL or form (digits 0-9 only, no leading zero, >= 1), else 400."""
    return parse_count(text, field, max_digits=VERSION_DIGITS, minimum=1)


def maybe_version(text: str | None, field: str) -> int | None:
    return None if text is None else version_number(text, field)


def _compare_query(versions: list[int], **params) -> str:
    pairs = [("v", v) for v in versions] + [(k, v) for k, v in params.items() if v not in (None, "")]
    return urlencode(pairs)


def install(app: FastAPI, ui: UI) -> None:
    _registry_pages(app, ui)
    _compare_pages(app, ui)
    _monitor_pages(app, ui)
    _run_pages(app, ui)


def _registry_pages(app: FastAPI, ui: UI) -> None:
    @app.get("/", response_class=HTMLResponse)
    def models(request: Request):
        return ui.render(request, "models.html", models=catalog.models_overview(ui.registry))

    @app.get("/models/{name}", response_class=HTMLResponse)
    def model(request: Request, name: str):
        check_name(name)
        return ui.render(request, "model.html", **catalog.model_page(ui.registry, name))

    @app.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
    def version(request: Request, name: str, version: str):
        check_name(name)
        card = catalog.version_card(ui.registry, name, version_number(version))
        return ui.render(request, "version.html", **card)

    @app.get("/models/{name}/versions/{version}/verify", response_class=HTMLResponse)
    def verify(request: Request, name: str, version: str):
        check_name(name)
        problem = catalog.verify_state(ui.registry, name, version_number(version))
        return ui.render(request, "verify.html", problem=problem)

    @app.post("/models/{name}/aliases/{alias}/move")
    async def move(request: Request, name: str, alias: str):
        """Step 1 (no confirm): a confirmation naming the target's acceptance and what the
        promotion gate says. Step 2 (confirm=yes, a reason): the move through gates.promote."""
        check_name(name)
        check_alias(alias)
        await ui.require_token(request)
        form = await form_fields(request)
        version = version_number(form.get("version", ""), "form field version")
        from mlops_dl.gates import promote as gate

        canvas = ui.canvas()
        if form.get("confirm") != "yes":
            decision = gate.evaluate(ui.registry, f"{name}:{version}", canvas, to=alias)
            return ui.render(request, "confirm_move.html", name=name, alias=alias,
                             version=version, decision=decision,
                             kind=gate.move_kind(ui.registry, name, alias, version),
                             current=ui.registry.alias_target(name, alias))
        reason = (form.get("reason") or "").strip()
        if not reason:
            raise FormError("reason: a move needs a reason (it is recorded with the move); "
                            "nothing moved")
        try:
            gate.move(ui.registry, name, alias, version, canvas, reason,
                      force=form.get("force") == "yes")
        except MlopsError as e:
            if getattr(e, "exit_code", None) == gate.REFUSED_EXIT:
                raise Refused(str(e)) from None
            raise
        target = f"/models/{name}?" + urlencode({"moved": f"{alias}:{version}"})
        if "hx-request" in request.headers:
            return HTMLResponse("", headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)


def _compare_pages(app: FastAPI, ui: UI) -> None:
    @app.get("/models/{name}/compare", response_class=HTMLResponse)
    def compare(request: Request, name: str, versions: Versions, variant: Maybe = None,
                diff: bool = False, a: Maybe = None, b: Maybe = None,
                from_label: Annotated[Maybe, Query(alias="from")] = None,
                to_label: Annotated[Maybe, Query(alias="to")] = None):
        check_name(name)
        versions = [version_number(v, "v") for v in versions]
        a, b = maybe_version(a, "a"), maybe_version(b, "b")
        page = comparison.compare_page(ui.registry, name, versions, variant, diff)
        by_version = {mv.version: mv for mv in page["mvs"]}
        a = a if a is not None else page["versions"][0]
        b = b if b is not None else page["versions"][1]
        flips = comparison.flips(by_version, a, b, page["variant"], from_label, to_label)
        return ui.render(request, "compare.html", **page, flips=flips, query=lambda **kw: _compare_query(
            page["versions"], **{"variant": variant, "diff": "1" if diff else None, "a": a, "b": b,
                                 "from": from_label, "to": to_label, **kw}))

    @app.get("/models/{name}/compare/flips", response_class=HTMLResponse)
    def flips(request: Request, name: str, versions: Versions, a: str, b: str, variant: Maybe = None,
              from_label: Annotated[Maybe, Query(alias="from")] = None,
              to_label: Annotated[Maybe, Query(alias="to")] = None):
        check_name(name)
        versions = [version_number(v, "v") for v in versions]
        a, b = version_number(a, "a"), version_number(b, "b")
        mvs = comparison.load_versions(ui.registry, name, versions)
        variant = variant or comparison.common_variant(mvs)
        result = comparison.flips({mv.version: mv for mv in mvs}, a, b, variant, from_label, to_label)
        return ui.render(request, "flips.html", name=name, flips=result, variant=variant,
                         versions=[mv.version for mv in mvs], query=lambda **kw: _compare_query(
                             [mv.version for mv in mvs], **{"variant": variant, "a": a, "b": b,
                                                            "from": from_label, "to": to_label, **kw}))


def _log_key(logs: list[str]) -> tuple:
    stats = [(p, p.stat()) for pattern in logs for p in log_files(pattern)]
    return tuple((str(p), st.st_mtime_ns, st.st_size) for p, st in stats)


def _need_logs(ui: UI) -> None:
    if not ui.settings.logs:
        raise MlopsError("no prediction log: start the UI with `mlops-dl ui --log PATH` "
                         "(globs allowed) to see monitoring and labelling")


def _monitor_pages(app: FastAPI, ui: UI) -> None:
    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page(request: Request, ref: Maybe = None, slices: str = "8"):
        slices = parse_count(slices, "slices", max_digits=2, minimum=1)
        if slices > 48:
            raise MlopsError(f"slices: {slices} is over 48")
        _need_logs(ui)
        logs = ui.settings.logs
        # an alias is keyed by the version it points at now: a rollback shows at once
        pinned = ui.registry.get(ref, verify=False).ref if ref else None
        page = ui.cached(("monitor", _log_key(logs), pinned, slices), lambda: monitoring.monitoring_page(
            logs, ui.canvas(), ui.registry, ref, slices))
        return ui.render(request, "monitoring.html", **page, logs=logs, slices_asked=slices)

    @app.get("/labelling", response_class=HTMLResponse)
    def labelling_page(request: Request):
        _need_logs(ui)
        page = labelling.labelling_page(ui.settings.logs, ui.canvas(), ui.settings.annotations)
        return ui.render(request, "labelling.html", **page)

    @app.post("/labelling/{text_id}", response_class=HTMLResponse)
    async def label(request: Request, text_id: str):
        await ui.require_token(request)
        _need_logs(ui)
        canvas = ui.canvas()
        gold = (await form_fields(request)).get("gold", "")
        row = labelling.annotate(ui.settings.logs, canvas, ui.settings.annotations, text_id, gold)
        page = labelling.labelling_page(ui.settings.logs, canvas, ui.settings.annotations)
        if "hx-request" not in request.headers:
            return RedirectResponse("/labelling", status_code=303)
        return ui.render(request, "label_row.html", row=row, labels=canvas.labels,
                         progress=page["progress"], oob=True)


def _run_pages(app: FastAPI, ui: UI) -> None:
    def index():
        s = ui.settings
        return runs.run_index(s.runs_dir, ui.registry), runs.study_index(s.studies_dir)

    @app.get("/runs", response_class=HTMLResponse)
    def run_list(request: Request, sort: str = "created", order: str = "desc", q: str = "",
                 status: str = ""):
        run_dirs, studies = index()
        table = runs.runs_table(run_dirs, ui.registry, sort, order, q, status)
        return ui.render(request, "runs.html", **table, studies=studies,
                         runs_dir=str(ui.settings.runs_dir), studies_dir=str(ui.settings.studies_dir))

    @app.get("/runs/compare", response_class=HTMLResponse)
    def run_compare(request: Request, run: list[str] = Query(default=[])):
        page = runs.compare_page(index()[0], run)
        return ui.render(request, "runs_compare.html", **page)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_view(request: Request, run_id: str):
        path = runs.lookup(index()[0], run_id, "run")
        return ui.render(request, "run.html", **runs.run_page(path, run_id, ui.registry), study=None)

    @app.get("/studies/{study}", response_class=HTMLResponse)
    def study(request: Request, study: str):
        folder = runs.lookup(index()[1], study, "study")
        return ui.render(request, "study.html", **runs.study_page(folder, ui.settings.dashboard_url))

    @app.get("/studies/{study}/trials/{number}", response_class=HTMLResponse)
    def trial(request: Request, study: str, number: str):
        number = parse_count(number, "trial number", max_digits=VERSION_DIGITS)
        folder = runs.lookup(index()[1], study, "study")
        path = runs.trial_dir(folder, number)
        return ui.render(request, "run.html", **runs.run_page(path, f"{study} trial {number}"),
                         study=study)
