"""What a command names on its command line (a pack id, a pack file or a lock file) turned into a lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import InputError, PackbuilderError

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog
    from packbuilder.model import Pack, Profile
    from packbuilder.model.lock import Lock
    from packbuilder.plan.resolve import Plan


def pick_profile(catalog: Catalog, pack: Pack, profile_id: str | None) -> Profile:
    """The profile asked for, else the pack's only one; several to choose from is a usage error."""
    from packbuilder.catalog import load_profile_arg
    from packbuilder.i18n import _

    if profile_id is not None:
        return load_profile_arg(catalog, profile_id)  # an id, or a profile file (profiles new)
    if len(pack.profiles) == 1:
        return catalog.profile(pack.profiles[0])
    choices = ", ".join(pack.profiles or sorted(catalog.profiles))
    raise InputError(
        _("which PCs is {pack} for? --profile is needed").format(pack=pack.id),
        hint=_("choose one of: {choices}").format(choices=choices),
    )


def make_plan(
    catalog: Catalog,
    pack_arg: str,
    profile_id: str | None,
    capacity: int | None = None,
    live: bool | None = None,
    base_id: str | None = None,
) -> Plan:
    """Resolve ``pack_arg`` for a profile and check that it fits ``capacity`` bytes (else the profile's key).
    ``live``/``base_id``: for iso and usb-live builds, the base the key runs on (see ``live_base``)."""
    from packbuilder.catalog import load_pack_arg, overlay_bytes
    from packbuilder.plan.checks import check_capacity
    from packbuilder.plan.resolve import live_base, resolve

    pack = load_pack_arg(catalog, pack_arg)
    profile = pick_profile(catalog, pack, profile_id)
    base = live_base(catalog, pack, profile, live, base_id)
    plan = resolve(catalog, pack, profile, capacity, overlay_bytes(catalog.root, pack.overlays), base)
    check_capacity(catalog, plan)
    return plan


def is_lock_file(arg: str) -> bool:
    """A lock file by its suffix, or by its first bytes naming ``lock_version``."""
    path = Path(arg)
    if not path.is_file():
        return False
    if path.suffix in (".lock", ".json"):
        return True
    with path.open("rb") as fh:
        return b'"lock_version"' in fh.read(4096)


def _check_capacity(lock: Lock, capacity: int, catalog: Callable[[], Catalog]) -> None:
    from packbuilder.catalog import overlay_bytes
    from packbuilder.plan.lock import check_lock_fits

    try:
        overlays = overlay_bytes(catalog().root, lock.pack.overlays)
    except PackbuilderError:  # no catalog: the overlays' size is not known, the apps' still is
        overlays = 0
    check_lock_fits(lock, capacity, overlays)


@dataclass(frozen=True)
class Target:
    """The lock to fetch or build, and what changed in the catalog since it was written."""

    lock: Lock
    stale: tuple[str, ...] = ()


def load_target(
    arg: str,
    profile_id: str | None,
    capacity: int | None,
    catalog: Callable[[], Catalog],
    check_stale: bool = True,
    live: bool | None = None,
    base_id: str | None = None,
) -> Target:
    """A lock file as it is (with its staleness against the catalog unless ``check_stale`` is off;
    for a live build, its Linux apps checked against the base), or a pack resolved into a lock."""
    from packbuilder.plan.lock import lock_from_plan, read_lock, stale_report

    if is_lock_file(arg):
        lock = read_lock(Path(arg))
        if capacity is not None:  # an explicit --size wins over the lock's, and must still hold it
            _check_capacity(lock, capacity, catalog)
        if not check_stale and not live:
            return Target(lock)
        try:
            current = catalog()
        except PackbuilderError:  # a lock needs no catalog: the staleness check is a bonus
            return Target(lock)
        if live and (base_id or lock.pack.base) in current.bases:
            from packbuilder.plan.checks import check_live_items

            base = current.bases[base_id or lock.pack.base or ""]
            check_live_items(current, base, [(i.app, i.url) for i in lock.items])
        return Target(lock, tuple(stale_report(lock, current)) if check_stale else ())
    return Target(lock_from_plan(make_plan(catalog(), arg, profile_id, capacity, live, base_id)))
