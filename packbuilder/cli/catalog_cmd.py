"""``packbuilder catalog list|show|matrix``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from packbuilder.cli.options import WORKSPACE, JsonOpt, ProfileOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.model import App

app = typer.Typer(rich_markup_mode=None, help=_("Browse the catalog of apps."), no_args_is_help=True)


def app_summary(app_: App) -> dict[str, Any]:
    from packbuilder.versions import version_key

    versions = sorted((r.version for r in app_.releases), key=version_key, reverse=True)
    return {
        "id": app_.id,
        "name": app_.name,
        "category": app_.category.value,
        "license": app_.license,
        "latest": versions[0],
        "versions": versions,
        "summary": {"fr": app_.summary.fr, "en": app_.summary.en},
    }


@app.command("list")
def list_apps(
    category: Annotated[str | None, typer.Option("--category", "-c", help=_("Only this category."))] = None,
    profile: ProfileOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """List the apps, optionally those of one category or those that run on a profile."""
    from packbuilder.errors import InputError
    from packbuilder.model import Category

    set_json(json_flag)
    catalog = WORKSPACE.catalog()
    if category is not None and category not in {c.value for c in Category}:
        raise InputError(
            _("unknown category {category!r}").format(category=category),
            hint=_("use one of: {choices}").format(choices=", ".join(c.value for c in Category)),
        )
    apps = sorted(catalog.apps.values(), key=lambda a: (a.category.value, a.id))
    if category:
        apps = [a for a in apps if a.category.value == category]
    rows = [app_summary(a) for a in apps]
    if profile is not None:
        from packbuilder.catalog import load_profile_arg
        from packbuilder.plan.resolve import runnable_on

        prof = load_profile_arg(catalog, profile)
        for row in rows:
            choice = runnable_on(catalog.apps[row["id"]], prof)
            row["profile"] = {
                "id": prof.id,
                "runs": choice.version is not None,
                "version": choice.version,
                "reason": choice.reason,
                "misfits": [{"version": v, "code": c, "value": value} for v, c, value in choice.codes],
            }
    if OUTPUT.json_mode:
        OUTPUT.emit_json({"apps": rows, "count": len(rows)})
        return
    from rich.markup import escape
    from rich.table import Table

    from packbuilder.i18n import current_language
    from packbuilder.reasons import explain

    lang = current_language()
    title = _("{count} apps for {profile}") if profile else _("{count} apps")
    table = Table(title=title.format(count=len(rows), profile=profile))
    for column in (_("id"), _("category"), _("latest"), _("license"), _("summary")):
        table.add_column(column, no_wrap=column == _("id"))  # ids are what one types next: never cut
    if profile:
        table.add_column(_("on {profile}").format(profile=profile), overflow="fold")
    for row in rows:
        cells = [row["id"], row["category"], row["latest"], row["license"], row["summary"][lang]]
        if profile:
            p = row["profile"]
            why = explain([(m["version"], m["code"], m["value"]) for m in p["misfits"]], lang) if p["misfits"] else p["reason"]
            refused = _("[red]no[/]: {reason}").format(reason=escape(why))
            cells.append(f"[green]{p['version']}[/]" if p["runs"] else refused)
        table.add_row(*cells)
    OUTPUT.show(table)


@app.command("show")
def show(app_id: Annotated[str, typer.Argument(help=_("App id, e.g. gimp."))], json_flag: JsonOpt = False) -> None:
    """Show one app: releases, artifacts, requirements and hash sources."""
    set_json(json_flag)
    catalog = WORKSPACE.catalog()
    app_ = catalog.app(app_id)
    if OUTPUT.json_mode:
        OUTPUT.emit_json(app_.model_dump(mode="json", exclude_none=True))
        return
    OUTPUT.info(f"[bold]{app_.name}[/] ({app_.id}) · {app_.category.value} · {app_.license}")
    OUTPUT.info(f"  {app_.summary.fr}\n  {app_.summary.en}")
    OUTPUT.info(_("  homepage: {homepage}\n  source code: {source}").format(homepage=app_.homepage, source=app_.source_code))
    for release in app_.releases:
        OUTPUT.info(f"[bold]{release.version}[/]" + (f" ({release.line})" if release.line else ""))
        for art in release.artifacts:
            req = art.requires
            ram = _("{ram} MiB RAM").format(ram=req.ram_mb) if req.ram_mb else None
            needs = ", ".join(x for x in (req.os, ram, "+".join(c.value for c in req.cpu)) if x)
            algo, digest = art.digest
            size = _("{size} bytes").format(size=art.size) if art.size else _("~{size} bytes").format(size=art.size_approx)
            lang = f" [{art.lang}]" if art.lang else ""
            OUTPUT.info(
                _("  {platform}/{arch} {kind}{lang} · {size} · needs {needs}").format(
                    platform=art.platform.value, arch=art.arch.value, kind=art.kind.value, lang=lang, size=size,
                    needs=needs or _("nothing stated"),
                )
            )
            OUTPUT.info(
                _("    {url}\n    {digest}\n    hash from: {source}").format(
                    url=art.url, digest=f"{algo}:{digest}", source=art.checksum_source
                )
            )


@app.command("matrix")
def matrix(
    pack: Annotated[list[str] | None, typer.Option("--pack", help=_("Only this pack (repeatable)."))] = None,
    image_format: Annotated[
        list[str] | None, typer.Option("--format", help=_("Only this format: usb or iso (repeatable)."))
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """The images to build: packs x their profiles x formats. --json gives a CI matrix ({"include": [...]})."""
    from packbuilder.matrix import image_matrix

    set_json(json_flag)
    jobs = image_matrix(WORKSPACE.catalog(), pack, image_format)
    if OUTPUT.json_mode:
        # Exactly GitHub Actions' matrix shape, so a workflow can pass it to fromJSON() as it is.
        OUTPUT.emit_json({"include": [job.as_dict() for job in jobs]})
        return
    for job in jobs:
        OUTPUT.text(f"{job.pack} {job.profile} {job.format} {job.output}")


@app.command("report")
def report(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=_("Write the report to this file instead of the terminal."))
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help=_("Count source ages up to this day (YYYY-MM-DD; default: today)."))
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """For maintainers: each pack on each of its PCs by category, and each artifact's source age and size."""
    import datetime as dt

    from packbuilder.errors import InputError
    from packbuilder.report import build_report, report_markdown

    set_json(json_flag)
    try:
        today = dt.date.fromisoformat(date) if date else dt.date.today()
    except ValueError:
        raise InputError(
            _("--date {date!r} is not a date").format(date=date), hint=_("write it as YYYY-MM-DD, e.g. 2026-08-22")
        ) from None
    document = build_report(WORKSPACE.catalog(), today)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if OUTPUT.json_mode else report_markdown(document)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        if not OUTPUT.json_mode:
            OUTPUT.info(_("report written to {file}").format(file=output))
        return
    if OUTPUT.json_mode:
        OUTPUT.emit_json(document)
    else:
        OUTPUT.text(text.rstrip("\n"))
