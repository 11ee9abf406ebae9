"""``packbuilder update KEY [LOCK]``: bring a key folder up to date in place, user data kept."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from packbuilder.cli.options import WORKSPACE, JobsOpt, JsonOpt, MirrorOpt, OfflineOpt, ProfileOpt, SizeOpt, set_json
from packbuilder.i18n import _
from packbuilder.sizes import format_size
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.model.lock import Lock, LockedArtifact
    from packbuilder.update import UpdatePlan


def update(
    key: Annotated[Path, typer.Argument(help=_("The key's folder (a mounted key, or a --format dir output)."))],
    lock: Annotated[Path | None, typer.Argument(help=_("Bring the key to this lock (default: the catalog's newest)."))] = None,
    profile: ProfileOpt = None,
    size: SizeOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_("Show what would change; change nothing."))] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=_("Do not ask before changing the key."))] = False,
    purge: Annotated[bool, typer.Option("--purge", help=_("Also delete the settings of removed apps."))] = False,
    rollback: Annotated[bool, typer.Option("--rollback", help=_("Undo an interrupted update."))] = False,
    jobs: JobsOpt = 4,
    mirror: MirrorOpt = None,
    offline: OfflineOpt = False,
    json_flag: JsonOpt = False,
) -> None:
    """Update the apps of a key in place: only what changed is written; Documents/ and settings are kept."""
    from packbuilder import update as updating
    from packbuilder.journal import Journal

    set_json(json_flag)
    if rollback:
        old = updating.rollback(key)
        OUTPUT.info(
            _("{key}: back to {pack} for {profile} as it was before the update").format(
                key=key, pack=old.pack.id, profile=old.profile.id
            )
        )
        return
    journal = Journal.load(key)
    if journal is not None:
        OUTPUT.info(_("{key}: finishing the interrupted update").format(key=key))
        pending = [c.new for c in updating.diff(journal.old, journal.new) if c.new and c.kind != "keep"]
        cached = _fetch(journal.new, pending, jobs, mirror, offline)
        changes = updating.update(key, cached, None, purge)
        _done(key, [c.describe() for c in changes if c.kind != "keep"])
        return
    _manifest, old = updating.read_key(key)
    plan = updating.plan_update(key, _target(old, lock, profile, size))
    _show(plan)
    if not plan.changed or dry_run:
        return
    _confirm(plan, yes)
    items = [c.new for c in plan.changed if c.new]
    cached = _fetch(plan.new, items, jobs, mirror, offline)
    changes = updating.update(key, cached, plan, purge)
    _done(key, [c.describe() for c in changes if c.kind != "keep"])


def _target(old: Lock, lock: Path | None, profile: str | None, size: int | None) -> Lock:
    from packbuilder.plan.lock import lock_from_plan, read_lock
    from packbuilder.plan.targets import make_plan

    if lock is not None:
        return read_lock(lock)
    return lock_from_plan(make_plan(WORKSPACE.catalog(), old.pack.id, profile or old.profile.id, size or old.capacity_bytes))


def _fetch(lock: Lock, items: list[LockedArtifact], jobs: int, mirror: list[str] | None, offline: bool) -> dict[str, Path]:
    from packbuilder.fetch.run import fetch_lock

    if not items:
        return {}
    sub = lock.model_copy(update={"items": tuple(items)})
    return fetch_lock(sub, WORKSPACE.cache(), OUTPUT, jobs, tuple(mirror or ()), offline, WORKSPACE.keys_dir(), rehash=True).paths


def _show(plan: UpdatePlan) -> None:
    if OUTPUT.json_mode:
        OUTPUT.emit_json(plan.as_json())
        return
    OUTPUT.info(_("{key}: {pack} for {profile}").format(key=plan.key, pack=plan.old.pack.id, profile=plan.old.profile.id))
    for change in plan.changes:
        OUTPUT.info(f"  {change.describe()}")
    if not plan.changed:
        OUTPUT.info(_("already up to date: nothing to change"))
    else:
        OUTPUT.info(
            _("about {needed} to write, {free} free on the key").format(
                needed=format_size(plan.needed_bytes), free=format_size(plan.free_bytes)
            )
        )


def _confirm(plan: UpdatePlan, yes: bool) -> None:
    from packbuilder.errors import InputError
    from packbuilder.i18n import confirm

    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            _("refusing to change the key without confirmation: standard input is not a terminal"),
            hint=_("check the changes above, then run again with --yes"),
        )
    if not confirm(_("Update the key now?"), default=False):  # o/oui under French
        OUTPUT.err.print(_("nothing was changed"), markup=False)
        raise typer.Abort()


def _done(key: Path, lines: list[str]) -> None:
    if OUTPUT.json_mode:
        return
    OUTPUT.info(
        _("{key}: updated ({count} change(s)); Documents/ and the apps' settings were not touched").format(
            key=key, count=len(lines)
        )
    )
