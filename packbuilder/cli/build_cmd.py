"""``packbuilder build`` and ``packbuilder verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from packbuilder.cli.options import (
    WORKSPACE,
    BaseOpt,
    DryRunOpt,
    EngineOpt,
    FormatOpt,
    JobsOpt,
    JsonOpt,
    MirrorOpt,
    OfflineOpt,
    OutputPathOpt,
    PersistenceOpt,
    ProfileOpt,
    SizeOpt,
    TargetArg,
    set_json,
)
from packbuilder.i18n import _
from packbuilder.model.build import BuildOptions, FetchOptions, IsoEngine, OutputFormat
from packbuilder.ui import OUTPUT


def build(
    pack_or_lock: TargetArg,
    profile: ProfileOpt = None,
    fmt: FormatOpt = OutputFormat.DIR,
    out: OutputPathOpt = None,
    size: SizeOpt = None,
    label: Annotated[str | None, typer.Option("--label", help=_("FAT volume label (default: the pack's)."))] = None,
    jobs: JobsOpt = 4,
    mirror: MirrorOpt = None,
    offline: OfflineOpt = False,
    base: BaseOpt = None,
    iso_engine: EngineOpt = IsoEngine.AUTO,
    dry_run: DryRunOpt = False,
    persistence: PersistenceOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Build a key: a folder, a zip, a FAT32 USB disk image, or a live ISO with the pack."""
    from packbuilder.build.run import run_build

    set_json(json_flag)
    options = BuildOptions(
        target=pack_or_lock,
        format=fmt,
        profile=profile,
        output=out,
        size_bytes=size,
        label=label,
        base=base,
        iso_engine=iso_engine,
        dry_run=dry_run,
        persistence_bytes=persistence,
        fetch=FetchOptions(jobs, tuple(mirror or ()), offline),
    )
    report = run_build(WORKSPACE, options, OUTPUT)
    built = report.built
    if OUTPUT.json_mode:
        OUTPUT.emit_json(report.as_json())
        return
    for line in built.iso.summary_lines() if built.iso is not None else []:
        OUTPUT.info(line)
    message = _("built {path}") if built.written else _("dry run: {path} not written")
    OUTPUT.info(message.format(path=built.path))


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
        check_sums(output, sums)
        OUTPUT.info(_("{name}: matches {sums}").format(name=output.name, sums=sums))
    with OUTPUT.step(_("Checking {output}").format(output=output.name)):
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
        raise CheckFailed(
            _("{output}: {summary}").format(output=output, summary=report.summary()),
            hint=_("rebuild or re-write the key"),
            details=report.details(),
        )
    if not report.manifest:  # a compressed image: its block map's ranges were checked, not its files
        OUTPUT.info(_("{output}: all {count} block range(s) match").format(output=output, count=report.checked))
        return
    OUTPUT.info(
        _("{output}: all {count} files match ({pack} for {profile})").format(
            output=output, count=report.checked, pack=report.manifest.get("pack"), profile=report.manifest.get("profile")
        )
    )
