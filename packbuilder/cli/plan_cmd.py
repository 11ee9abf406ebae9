"""``packbuilder plan``: resolve a pack for a profile, explain it, write the lock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from packbuilder.cli.options import WORKSPACE, JsonOpt, ProfileOpt, SizeOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.plan.resolve import Plan


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "pack": plan.pack.id,
        "profile": plan.profile.id,
        "items": [
            {
                "app": i.app.id,
                "version": i.release.version,
                "platform": i.artifact.platform.value,
                "arch": i.artifact.arch.value,
                "kind": i.artifact.kind.value,
                "url": i.artifact.url,
                "sha256": i.artifact.sha256,
                "sha512": i.artifact.sha512,
                "size": i.artifact.download_size,
                "size_exact": i.artifact.size is not None,
                "unpacked_size": i.unpacked_size,
                "dest": i.dest,
                "reason": i.reason,
                "replaces": i.replaces,
                "needed_by": i.needed_by,
            }
            for i in plan.items
        ],
        "excluded": [{"app": e.app, "reason": e.reason} for e in plan.excluded],
        "base": plan.base.id if plan.base else None,
        "base_apps": [
            {"app": b.app.id, "name": b.app.name, "version": b.app.version, "wanted": b.wanted, "reason": b.reason}
            for b in plan.base_apps
        ],
        "warnings": list(plan.warnings),
        "profile_notes": plan.profile.model_dump(mode="json")["notes"],
        "download_bytes": plan.download_bytes,
        "total_bytes": plan.total_bytes,
        "capacity_bytes": plan.capacity_bytes,
        "usable_bytes": plan.usable_bytes,
    }


def print_plan(plan: Plan) -> None:
    from rich.markup import escape
    from rich.table import Table

    from packbuilder.i18n import current_language
    from packbuilder.model.common import in_language
    from packbuilder.plan.explain import exclusion_line, plan_item_line
    from packbuilder.profiles import notes_line
    from packbuilder.sizes import format_size

    lang = current_language()
    profile = plan.profile
    title = _("{pack} for {profile} ({name})").format(pack=plan.pack.id, profile=profile.id, name=in_language(profile.name, lang))
    table = Table(title=title, title_justify="left")
    columns = ((_("app"), False), (_("version"), False), (_("build"), False), (_("kind"), False), (_("download"), True),
               (_("on key"), True))
    for column, right in columns:
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for i in plan.items:
        approx = "" if i.artifact.size else "~"
        table.add_row(
            i.app.id,
            i.release.version,
            f"{i.artifact.platform.value}/{i.artifact.arch.value}",
            i.artifact.kind.value,
            approx + format_size(i.artifact.download_size),
            "~" + format_size(i.unpacked_size),
        )
    OUTPUT.show(table)
    OUTPUT.info("[bold]" + escape(_("Why")) + "[/]")
    for i in plan.items:
        OUTPUT.info(f"  [green]+[/] {escape(plan_item_line(i, profile, lang))}")
    for e in plan.excluded:
        OUTPUT.info(f"  [red]-[/] {escape(exclusion_line(e, lang))}")
    if plan.base is not None:
        OUTPUT.info("[bold]" + escape(_("In the live system ({base})").format(base=plan.base.id)) + "[/]")
        # The resolver's reason stays English (it goes into --json); the table line is said here.
        asked, there = _("{app} {version}: asked by the pack, not copied"), _("{app} {version}: also there")
        for b in plan.base_apps:
            line = (asked if b.wanted else there).format(app=b.app.id, version=b.app.version)
            OUTPUT.info(f"  [blue]=[/] {escape(line)}")
    for w in plan.warnings:
        OUTPUT.warn(w)
    notes = notes_line(profile.id, profile.notes)
    if notes:
        OUTPUT.warn(notes)
    pct = 100 * plan.total_bytes / plan.capacity_bytes
    OUTPUT.info(
        _("download {download} · on the key {used} of {capacity} ({percent}%)").format(
            download=format_size(plan.download_bytes),
            used=format_size(plan.total_bytes),
            capacity=format_size(plan.capacity_bytes),
            percent=f"{pct:.0f}",
        )
    )


def plan(
    pack: Annotated[str, typer.Argument(help=_("Pack id, or path of a pack file."))],
    profile: ProfileOpt = None,
    lock: Annotated[Path | None, typer.Option("--lock", help=_("Write the lock file here."))] = None,
    size: SizeOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Resolve a pack for a profile: versions, reasons, lock file."""
    from packbuilder.plan.targets import make_plan

    set_json(json_flag)
    result = make_plan(WORKSPACE.catalog(), pack, profile, size)
    if lock is not None:
        from packbuilder.plan.lock import lock_from_plan, write_lock

        write_lock(lock_from_plan(result), lock)
    if OUTPUT.json_mode:
        OUTPUT.emit_json(plan_json(result))
        return
    print_plan(result)
    if lock is not None:
        OUTPUT.info(_("lock written to {path}").format(path=lock))
