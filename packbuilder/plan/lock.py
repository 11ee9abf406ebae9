"""Write, read and check lock files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from packbuilder.errors import InputError
from packbuilder.fsutil import display_path
from packbuilder.i18n import _
from packbuilder.model.lock import (
    LOCK_VERSION,
    Lock,
    LockedArtifact,
    LockedExclusion,
    LockedMisfit,
    LockedPack,
    LockedProfile,
)

if TYPE_CHECKING:  # reading a lock (fetch, build) needs neither the catalog nor the resolver
    from packbuilder.catalog import Catalog
    from packbuilder.plan.resolve import Plan, PlanItem
    from packbuilder.reasons import VersionMisfit


def locked_item(item: PlanItem) -> LockedArtifact:
    app, release, art = item.app, item.release, item.artifact
    return LockedArtifact(
        app=app.id,
        name=app.name,
        category=app.category,
        license=app.license,
        homepage=app.homepage,
        source_code=app.source_code,
        summary=app.summary,
        description=app.description,
        version=release.version,
        date=release.date,
        platform=art.platform,
        arch=art.arch,
        kind=art.kind,
        lang=art.lang,
        url=art.url,
        mirrors=art.mirrors,
        insecure=art.insecure,
        sha256=art.sha256,
        sha512=art.sha512,
        checksum_source=art.checksum_source,
        signature=art.signature,
        size=art.size,
        size_approx=art.size_approx,
        installed_size=art.installed_size,
        launch=art.launch,
        dest=item.dest,
        reason=item.reason,
        replaces=item.replaces,
        portable=app.portable,
        misfits=_misfits(item.misfits),
        replaced_misfits=_misfits(item.replaced_misfits),
    )


def _misfits(codes: tuple[VersionMisfit, ...]) -> tuple[LockedMisfit, ...]:
    return tuple(LockedMisfit.model_validate({"version": v, "code": c, "value": value}) for v, c, value in codes)


def lock_from_plan(plan: Plan) -> Lock:
    pack, profile = plan.pack, plan.profile
    dates = [i.release.date for i in plan.items if i.release.date]
    return Lock(
        lock_version=LOCK_VERSION,
        pack=LockedPack(id=pack.id, name=pack.name, label=pack.label, locale=pack.locale, overlays=pack.overlays, base=pack.base),
        profile=LockedProfile(
            id=profile.id,
            name=profile.name,
            os=profile.os.value + (f"/glibc-{profile.glibc}" if profile.glibc else ""),
            arch=profile.arch,
            ram_mb=profile.ram_mb,
            key_mb=profile.key_mb,
            firmware=tuple(f.value for f in profile.firmware),
            notes=profile.notes,
        ),
        source_date=max(dates) if dates else None,
        capacity_bytes=plan.capacity_bytes,
        items=tuple(locked_item(i) for i in plan.items),
        excluded=tuple(LockedExclusion(app=e.app, reason=e.reason, misfits=_misfits(e.misfits)) for e in plan.excluded),
    )


def lock_bytes(lock: Lock) -> bytes:
    """Canonical form: sorted keys, no timestamps of ours, one trailing newline."""
    data = lock.model_dump(mode="json", exclude_none=True)
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def key_bytes(lock: Lock, explicit: int | None) -> int:
    """The size of the key to build: ``--size`` when given, else the one the lock was planned for
    (``plan --size``, or the profile's key)."""
    return explicit if explicit is not None else lock.capacity_bytes


def check_lock_fits(lock: Lock, capacity: int, overlay_bytes: int) -> None:
    """Refuse a key size (an explicit ``--size`` on a lock) too small for the lock, before any download."""
    from packbuilder.plan.resolve import FS_OVERHEAD, unpacked_estimate
    from packbuilder.sizes import format_size

    total = sum(unpacked_estimate(item) for item in lock.items) + overlay_bytes
    usable = int(capacity * (1 - FS_OVERHEAD))
    if total > usable:
        raise InputError(
            _("the lock needs {needed} but a {capacity} key holds about {usable} of files").format(
                needed=format_size(total), capacity=format_size(capacity), usable=format_size(usable)
            ),
            hint=_("use a bigger --size, or leave it out to build for the lock's {planned}").format(
                planned=format_size(lock.capacity_bytes)
            ),
        )


def lock_digest(lock: Lock) -> str:
    return hashlib.sha256(lock_bytes(lock)).hexdigest()


def write_lock(lock: Lock, path: Path) -> None:
    """Write atomically: a reader never sees half a lock."""
    from packbuilder.fsutil import atomic_write_bytes

    try:
        atomic_write_bytes(path, lock_bytes(lock))
    except OSError as exc:
        raise InputError(
            _("cannot write the lock file {path}: {reason}").format(path=display_path(path), reason=exc.strerror),
            hint=_("give --lock a file path in a folder you can write to"),
        ) from None


def read_lock(path: Path) -> Lock:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        message = _("cannot read lock file {path}: {reason}")
        raise InputError(message.format(path=display_path(path), reason=exc.strerror)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            _("{path} is not a lock file (invalid JSON: {reason})").format(path=display_path(path), reason=exc),
            hint=_("write one with: packbuilder plan PACK --profile P --lock FILE"),
        ) from None
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        found = data.get("lock_version") if isinstance(data, dict) else None
        raise InputError(
            _("{path}: unsupported lock_version {found!r} (this packbuilder reads {version})").format(
                path=display_path(path), found=found, version=LOCK_VERSION
            ),
            hint=_("write a new lock with: packbuilder plan PACK --profile P --lock FILE"),
        )
    try:
        return Lock.model_validate(data)
    except ValidationError as exc:
        from packbuilder.model.messages import error_text
        from packbuilder.yamlsrc import format_loc

        details = [f"{display_path(path)}: {format_loc(tuple(e['loc']))}: {error_text(e)}" for e in exc.errors()]
        raise InputError(_("{path} is not a valid lock file").format(path=display_path(path)), details=details) from None


def stale_report(lock: Lock, catalog: Catalog) -> list[str]:
    """What changed in the catalog since the lock was written (empty: the lock is current)."""
    notes: list[str] = []
    for item in lock.items:
        app = catalog.apps.get(item.app)
        if app is None:
            notes.append(_("{app}: no longer in the catalog").format(app=item.app))
            continue
        release = next((r for r in app.releases if r.version == item.version), None)
        if release is None:
            notes.append(_("{app} {version}: release no longer in the catalog").format(app=item.app, version=item.version))
            continue
        art = next(
            (
                a
                for a in release.artifacts
                if (a.platform, a.arch, a.kind, a.lang) == (item.platform, item.arch, item.kind, item.lang)
            ),
            None,
        )
        if art is None:
            slot = f"{item.platform.value}/{item.arch.value}/{item.kind.value}"
            notes.append(_("{app} {version}: artifact {slot} removed").format(app=item.app, version=item.version, slot=slot))
            continue
        for key in ("url", "sha256", "sha512", "size"):
            old, new = getattr(item, key), getattr(art, key)
            if old != new:
                notes.append(
                    _("{app} {version}: {key} changed ({old} -> {new})").format(
                        app=item.app, version=item.version, key=key, old=old, new=new
                    )
                )
    pack = catalog.packs.get(lock.pack.id)
    profile = catalog.profiles.get(lock.profile.id)
    if pack is not None and profile is not None:
        from packbuilder.plan.resolve import resolve

        fresh = {i.app.id: i.release.version for i in resolve(catalog, pack, profile).items}
        locked = {i.app: i.version for i in lock.items}
        for app_id in sorted(set(fresh) | set(locked)):
            if fresh.get(app_id) != locked.get(app_id):
                notes.append(
                    _("{app}: the catalog now resolves to {fresh} (lock has {locked})").format(
                        app=app_id, fresh=fresh.get(app_id) or _("nothing"), locked=locked.get(app_id) or _("nothing")
                    )
                )
    return notes
