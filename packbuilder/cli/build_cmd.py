"""``packbuilder build`` and ``packbuilder verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from packbuilder.cli.common import STATE, JsonOpt, ProfileOpt, set_json
from packbuilder.cli.fetch_cmd import JobsOpt, MirrorOpt, OfflineOpt, cache_dir, keys_dir, load_target
from packbuilder.cli.plan_cmd import SizeOpt
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", "-f", help=_("dir, zip, usb (FAT32 disk image), iso (live ISO + pack) or usb-live (bootable key + pack).")
    ),
]
BaseOpt = Annotated[str | None, typer.Option("--base", help=_("--format iso: base live ISO, a base id or an ISO file."))]
EngineOpt = Annotated[str, typer.Option("--iso-engine", help=_("--format iso: auto, xorriso or pycdlib."))]
PersistenceOpt = Annotated[
    str | None, typer.Option("--persistence", help=_("--format usb-live: size of a live-boot persistence volume, e.g. 1G."))
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help=_("--format iso: print the base's layout and the plan; write nothing."))
]


def overlays_dir() -> Path | None:
    from packbuilder.catalog import find_catalog, overlays_root

    return overlays_root(find_catalog(STATE.catalog_dir))


def build(
    pack_or_lock: Annotated[str, typer.Argument(metavar="PACK|LOCK", help=_("Pack id, pack file, or lock file."))],
    profile: ProfileOpt = None,
    fmt: FormatOpt = "dir",
    out: Annotated[Path | None, typer.Option("--output", "-o", help=_("Output path (default: PACK-PROFILE[.zip|.img])."))] = None,
    size: SizeOpt = None,
    label: Annotated[str | None, typer.Option("--label", help=_("FAT volume label (default: the pack's)."))] = None,
    jobs: JobsOpt = 4,
    mirror: MirrorOpt = None,
    offline: OfflineOpt = False,
    base: BaseOpt = None,
    iso_engine: EngineOpt = "auto",
    dry_run: DryRunOpt = False,
    persistence: PersistenceOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Build a key: a folder, a zip, a FAT32 USB disk image, or a live ISO with the pack."""
    from packbuilder.errors import InputError
    from packbuilder.fetch.run import fetch_lock
    from packbuilder.fsutil import parse_size
    from packbuilder.outputs import FORMATS, default_output
    from packbuilder.outputs import build as build_output

    set_json(json_flag)
    if fmt not in FORMATS:
        raise InputError(
            _("unknown format {format!r}").format(format=fmt), hint=_("use one of: {choices}").format(choices=", ".join(FORMATS))
        )
    lock = load_target(pack_or_lock, profile, size, fmt in ("iso", "usb-live"), base)
    from packbuilder.profiles import notes_line

    notes = notes_line(lock.profile.id, lock.profile.notes)
    if notes:
        OUTPUT.warn(notes)
    size_bytes = parse_size(size) if size else None
    result = fetch_lock(lock, cache_dir(), OUTPUT, jobs, tuple(mirror or ()), offline, keys_dir(), rehash=True)
    target = out or default_output(lock, fmt)
    iso = None
    if fmt in ("iso", "usb-live"):
        from packbuilder.cli.iso_cmd import iso_request

        if fmt == "usb-live" and dry_run:
            raise InputError(_("--dry-run goes with --format iso"))
        iso = iso_request(base or lock.pack.base, iso_engine, dry_run, jobs, tuple(mirror or ()), offline)
    elif base is not None or dry_run:
        raise InputError(_("--base and --dry-run go with --format iso or usb-live"))
    if persistence is not None and fmt != "usb-live":
        raise InputError(_("--persistence goes with --format usb-live"))
    persistence_bytes = parse_size(persistence) if persistence else None
    built = build_output(lock, fmt, target, result.paths, overlays_dir(), OUTPUT, size_bytes, label, iso, persistence_bytes)
    if iso is not None and fmt == "iso":
        from packbuilder.cli.iso_cmd import report_iso

        report_iso(iso, built)
        if dry_run:
            return
    if OUTPUT.json_mode:
        side = built.with_name(built.name + ".sha256")
        OUTPUT.emit_json(
            {
                "output": str(built),
                "format": fmt,
                "pack": lock.pack.id,
                "profile": lock.profile.id,
                "sha256": side.read_text().split()[0] if side.exists() else None,
                **({"iso": iso.as_json()} if iso is not None else {}),
            }
        )
        return
    OUTPUT.info(_("built {path}").format(path=built))


def verify(
    output: Annotated[Path, typer.Argument(help=_("A key folder, zip or USB image built by packbuilder."))],
    sums: Annotated[
        Path | None,
        typer.Argument(help=_("SHA256SUMS published with the image (default: the one beside it, if any).")),
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """Check a built key: the image against SHA256SUMS, then every file against its embedded manifest.
    Exit 1 if anything differs."""
    from packbuilder.errors import CheckFailed
    from packbuilder.verify import check_sums, verify_output

    set_json(json_flag)
    if sums is None and output.is_file() and (output.parent / "SHA256SUMS").is_file():
        sums = output.parent / "SHA256SUMS"
    if sums is not None:
        problem = check_sums(output, sums)
        if problem is not None:
            raise CheckFailed(problem, hint="download the image again")
        OUTPUT.info(_("{name}: matches {sums}").format(name=output.name, sums=sums))
    report = verify_output(output)
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "output": str(output),
                "checked": report.checked,
                "missing": report.missing,
                "changed": report.changed,
                "added": report.added,
                "ok": report.ok,
            }
        )
        if not report.ok:
            raise typer.Exit(1)
        return
    if not report.ok:
        raise CheckFailed(f"{output}: {report.summary()}", hint="rebuild or re-write the key", details=report.details())
    OUTPUT.info(
        f"{output}: all {report.checked} files match ({report.manifest.get('pack')} for {report.manifest.get('profile')})"
    )
