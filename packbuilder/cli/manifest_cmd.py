"""``packbuilder manifest lint|schema|check-updates|bump|verify``: tools for catalog maintainers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from packbuilder.cli.options import WORKSPACE, JobsOpt, JsonOpt, YesOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog
    from packbuilder.model.app import App
    from packbuilder.updates.check import CheckResult
    from packbuilder.updates.verify import VerifyReport

app = typer.Typer(rich_markup_mode=None, help=_("Check and edit manifests (for catalog maintainers)."), no_args_is_help=True)


@app.command("lint")
def lint(
    paths: Annotated[
        list[Path] | None, typer.Argument(help=_("Catalog folders or manifest files (default: the current catalog)."))
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """Check manifests; print every problem as file:line: field: message. Exit 1 if any error."""
    from packbuilder.errors import CheckFailed
    from packbuilder.lint import lint_paths

    set_json(json_flag)
    targets = list(paths) if paths else [WORKSPACE.catalog_root()]
    problems, checked = lint_paths(targets)
    errors = [p for p in problems if p.severity == "error"]
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "files": checked,
                "errors": len(errors),
                "warnings": len(problems) - len(errors),
                "problems": [
                    {"path": p.path, "line": p.line, "field": p.field, "message": p.message, "severity": p.severity}
                    for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            OUTPUT.result(str(problem))
        summary = _("{files} file(s) checked: {errors} error(s), {warnings} warning(s)")
        OUTPUT.note(summary.format(files=checked, errors=len(errors), warnings=len(problems) - len(errors)))
    if errors:
        raise CheckFailed(
            _("{count} error(s) in the manifests").format(count=len(errors)), hint=_("fix each file:line above, then lint again")
        )


@app.command("schema")
def schema(
    kind: Annotated[str, typer.Option("--kind", help=_("app, profile, pack or base."))] = "app",
) -> None:
    """Print the JSON Schema of a manifest kind (for editors' YAML completion)."""
    from packbuilder.errors import InputError
    from packbuilder.model import KINDS

    if kind not in KINDS:
        raise InputError(
            _("unknown manifest kind {kind!r}").format(kind=kind), hint=_("use one of: {kinds}").format(kinds=", ".join(KINDS))
        )
    document = KINDS[kind].model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = f"packbuilder {kind} manifest"
    OUTPUT.emit_json(document)


AppsArg = Annotated[list[str] | None, typer.Argument(metavar="[APP]...", help=_("App ids (default: every app)."))]


def _catalog_apps(ids: list[str] | None) -> tuple[Catalog, list[App]]:
    catalog = WORKSPACE.catalog()
    apps = [catalog.app(i) for i in ids] if ids else list(catalog.apps.values())
    return catalog, apps


@app.command("check-updates")
def check_updates(apps: AppsArg = None, json_flag: JsonOpt = False) -> None:
    """Compare each app's newest release, line by line, with what upstream publishes (its checkver).

    Exit 0 even when updates exist; 3 only when every check failed.
    """
    from packbuilder.errors import NetworkError
    from packbuilder.updates.check import check_updates as run_checks

    set_json(json_flag)
    _ids, chosen = _catalog_apps(apps)
    if apps:
        for a in chosen:
            if not a.checkver:
                OUTPUT.warn(_("{app} has no checkver: nothing to check").format(app=a.id))
    results = run_checks(chosen)
    failed = sum(1 for r in results if r.status == "check failed")
    if OUTPUT.json_mode:
        summary = {s: sum(1 for r in results if r.status == s) for s in ("up to date", "update available", "check failed")}
        OUTPUT.emit_json({"checks": [r.as_json() for r in results], "summary": summary})
    elif not results:
        OUTPUT.info(_("no app here has a checkver: nothing to check"))
    else:
        _print_checks(results)
    if results and failed == len(results):
        raise NetworkError(_("every check ({count}) failed").format(count=failed), hint=_("check the connection, then try again"))


def _print_checks(results: list[CheckResult]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in (_("app"), _("line"), _("current"), _("latest"), _("status")):
        table.add_column(column)
    style = {"up to date": "green", "update available": "yellow bold", "check failed": "red"}
    # The statuses are codes (--json keeps them); the table says them in the reader's language.
    shown = {"up to date": _("up to date"), "update available": _("update available"), "check failed": _("check failed")}
    for r in results:
        status = f"[{style[r.status]}]{shown[r.status]}[/]" + (f": {escape(r.reason)}" if r.reason else "")
        table.add_row(r.app, r.line or "-", r.current or "-", r.latest or "-", status)
    OUTPUT.show(table)
    updates = sum(1 for r in results if r.status == "update available")
    failed = sum(1 for r in results if r.status == "check failed")
    OUTPUT.info(
        _("{count} check(s): {updates} update(s) available, {failed} failed").format(
            count=len(results), updates=updates, failed=failed
        )
    )
    if updates:
        OUTPUT.info(_("add one with: packbuilder manifest bump APP VERSION [--line LINE]"))


@app.command("bump")
def bump(
    app_id: Annotated[str, typer.Argument(metavar="APP", help=_("App id."))],
    version: Annotated[str, typer.Argument(metavar="VERSION", help=_("The new upstream version."))],
    url: Annotated[str | None, typer.Option("--url", help=_("One download URL instead of the autoupdate templates."))] = None,
    line: Annotated[str | None, typer.Option("--line", help=_("Release line (when the app has several checks)."))] = None,
    json_flag: JsonOpt = False,
) -> None:
    """Add a release to manifests/apps/APP.yaml (comments and layout kept), then lint it."""
    from packbuilder.updates.bump import bump as run_bump

    set_json(json_flag)
    catalog, (chosen,) = _catalog_apps([app_id])
    path = catalog.sources[("app", chosen.id)]
    report = run_bump(catalog.root, path, chosen, version, url=url, line=line, explicit_line=line is not None)
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "path": str(report.path),
                "app": report.app,
                "version": report.version,
                "line": report.line,
                "position": report.position,
                "artifacts": [
                    {
                        "url": a.url,
                        "sha256": a.sha256,
                        "checksum_source": a.checksum_source,
                        "size": a.size,
                        "size_approx": a.size_approx,
                        "hash_route": a.hash_route,
                    }
                    for a in report.artifacts
                ],
                "warnings": report.warnings,
            }
        )
        return
    line_note = _(" (line {line})").format(line=report.line) if report.line else ""
    OUTPUT.info(
        _("added {app} {version}{line_note} as releases[{position}] of {path}").format(
            app=report.app, version=report.version, line_note=line_note, position=report.position, path=report.path
        )
    )
    for a in report.artifacts:
        spec = a.spec
        if a.size is not None:
            size = _("{size} bytes").format(size=a.size)
        else:
            size = _("about {size} bytes (estimate from the previous release)").format(size=a.size_approx)
        how = _("read from the upstream checksum file") if a.hash_route == "checksum file" else _("downloaded and hashed")
        OUTPUT.info(
            _("  {slot}: {url}\n    sha256 {how}: {source}; size {size}").format(
                slot=f"{spec.platform.value}/{spec.arch.value}/{spec.kind.value}{'/' + spec.lang if spec.lang else ''}",
                url=a.url, how=how, source=a.checksum_source, size=size,
            )
        )
    for warning in report.warnings:
        OUTPUT.warn(warning)
    OUTPUT.info(_("lint: no error. Review the diff (git diff), then open a pull request."))


@app.command("verify")
def verify(
    apps: AppsArg = None,
    changed_since: Annotated[
        str | None,
        typer.Option("--changed-since", metavar="REF", help=_("Only artifacts new or changed since this git revision.")),
    ] = None,
    yes: YesOpt = False,
    jobs: JobsOpt = 4,
    json_flag: JsonOpt = False,
) -> None:
    """Download artifacts into the cache and check their size and hash against the manifests.

    Exit 4 on a hash (or size) mismatch, 3 on network failures, 0 when all are good.
    """
    from packbuilder.errors import InputError
    from packbuilder.updates.verify import all_targets, changed_targets, verify_targets

    set_json(json_flag)
    catalog, chosen = _catalog_apps(apps)
    skipped = 0
    if changed_since:
        targets, skipped = changed_targets(catalog, changed_since)
        if apps:
            wanted = {a.id for a in chosen}
            targets = [t for t in targets if t.app in wanted]
    else:
        if not apps and not yes:
            import sys

            total = sum(art.download_size for one in chosen for r in one.releases for art in r.artifacts)
            from packbuilder.i18n import confirm
            from packbuilder.sizes import format_size

            question = _("This downloads every artifact of the catalog (about {size}). Go on?").format(size=format_size(total))
            if not sys.stdin.isatty():
                raise InputError(_("verifying the whole catalog downloads gigabytes"), hint=_("pass --yes, or name apps"))
            if not confirm(question):
                raise typer.Abort()
        targets = all_targets(chosen)
    report = verify_targets(targets, WORKSPACE.cache(), WORKSPACE.catalog_root() / "keys", jobs)
    report.skipped = skipped
    _print_verify(report)
    _raise_failures(report)


def _raise_failures(report: VerifyReport) -> None:
    """Exit 4 for a hash or size mismatch, else 3 for network failures."""
    from packbuilder.errors import NetworkError, VerificationError

    mismatches, network = report.count("mismatch", "size"), report.count("network")
    if mismatches:
        raise VerificationError(
            _("{count} artifact(s) do not match their manifest").format(count=mismatches),
            hint=_("check each manifest's hash, size and checksum_source against the publisher's"),
        )
    if network:
        raise NetworkError(
            _("{count} artifact(s) could not be downloaded").format(count=network), hint=_("check the connection, then try again")
        )


def _print_verify(report: VerifyReport) -> None:
    if OUTPUT.json_mode:
        OUTPUT.emit_json(report.as_json())
        return
    for outcome in report.outcomes:
        if outcome.status in ("ok", "cached"):
            cached = _(" (already in the cache)") if outcome.status == "cached" else ""
            OUTPUT.info(_("ok      {label}{cached}").format(label=outcome.target.label, cached=cached))
        else:
            OUTPUT.result(_("FAILED  {label}: {status}").format(label=outcome.target.label, status=outcome.status))
            for error in outcome.errors:
                OUTPUT.result(f"        {error}")
    summary = report.as_json()
    OUTPUT.note(
        _("{checked} artifact(s) checked: {ok} ok, {failed} failed; {skipped} unchanged artifact(s) skipped").format(
            checked=summary["checked"], ok=summary["ok"], failed=summary["failed"], skipped=report.skipped
        )
    )
