"""``packbuilder profiles list|new``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from packbuilder.cli.options import WORKSPACE, JsonOpt, set_json
from packbuilder.i18n import _, current_language
from packbuilder.ui import OUTPUT

app = typer.Typer(rich_markup_mode=None, help=_("Hardware profiles: the kinds of PC a pack is built for."), no_args_is_help=True)


@app.command("list")
def list_profiles(json_flag: JsonOpt = False) -> None:
    """List the hardware profiles."""
    set_json(json_flag)
    catalog = WORKSPACE.catalog()
    profiles = sorted(catalog.profiles.values(), key=lambda p: p.id)
    if OUTPUT.json_mode:
        OUTPUT.emit_json({"profiles": [p.model_dump(mode="json", exclude_none=True) for p in profiles]})
        return
    from rich.table import Table

    from packbuilder.sizes import format_size

    table = Table(title=_("{count} profiles").format(count=len(profiles)))
    for column in (_("id"), _("os"), _("arch"), _("RAM"), _("firmware"), _("key"), _("description")):
        table.add_column(column, no_wrap=column == _("id"))  # ids are what one types next: never cut
    for p in profiles:
        os_name = p.os.value + (f" (glibc {p.glibc})" if p.glibc else "")
        table.add_row(
            p.id,
            os_name,
            p.arch.value,
            _("{ram} MiB").format(ram=p.ram_mb),
            ",".join(f.value for f in p.firmware),
            format_size(p.key_mb * 10**6),
            p.name.fr if current_language() == "fr" else p.name.en,
        )
    OUTPUT.show(table)


def _ask(flag: str, question: str, given: str | None) -> str:
    """A flag's value, or the answer to ``question`` on a terminal; without a terminal, a usage error."""
    import sys

    from packbuilder.errors import InputError

    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise InputError(
            _("{flag} is needed (no terminal to ask on)").format(flag=flag), hint=_("see: packbuilder profiles new --help")
        )
    return str(typer.prompt(question, err=True)).strip()


def _size(flag: str, question: str, given: str | None, parse: Callable[[str], int]) -> int:
    """A size from its flag or the terminal, read by ``parse``; a text that is no size names its flag."""
    from packbuilder.errors import InputError

    try:
        return parse(_ask(flag, question, given))
    except ValueError as exc:  # parse_size's own message, translated where it is raised
        raise InputError(
            _("{flag}: {problem}").format(flag=flag, problem=exc), hint=_("see: packbuilder profiles new --help")
        ) from None


@app.command("new", help=_("Write a profile file for the PC in front of you (asks what the flags do not say)."))
def new_profile_cmd(
    path: Annotated[Path, typer.Argument(metavar=_("FILE.yaml"), help=_("Profile file to write; its name is the profile's id."))],
    windows: Annotated[str | None, typer.Option("--windows", help=_("Windows version: xp, vista, 7, 8.1, 10 or 11."))] = None,
    bits: Annotated[str | None, typer.Option("--bits", help=_("32 or 64 (Windows: System, « Type du système »)."))] = None,
    ram: Annotated[str | None, typer.Option("--ram", help=_("Memory, e.g. 512M, 2G, 4Go."))] = None,
    key_size: Annotated[str | None, typer.Option("--key-size", help=_("USB key size, e.g. 8G, 16Go."))] = None,
) -> None:
    from packbuilder.catalog import load_profile_arg
    from packbuilder.errors import InputError
    from packbuilder.fsutil import atomic_write_bytes
    from packbuilder.profiles import WINDOWS, PcFacts, new_profile, parse_memory_mb, profile_yaml
    from packbuilder.sizes import parse_size

    if path.suffix != ".yaml":
        raise InputError(_("{path}: a profile file ends in .yaml").format(path=path), hint=_("e.g. mon-pc.yaml"))
    if path.exists():
        raise InputError(_("{path} already exists: not replaced").format(path=path), hint=_("choose another name, or remove it"))
    version = _ask("--windows", _("Windows version ({choices})").format(choices=", ".join(WINDOWS)), windows).lower()
    answer = _ask("--bits", _("32 or 64 bits"), bits).lower().removesuffix("bits").strip()
    if not answer.isdigit():
        raise InputError(
            _("--bits {value!r}: write 32 or 64").format(value=answer), hint=_("see: packbuilder profiles new --help")
        )
    facts = PcFacts(
        windows=version,
        bits=int(answer),
        ram_mb=_size("--ram", _("Memory (e.g. 2G, 512M)"), ram, parse_memory_mb),
        key_mb=_size("--key-size", _("USB key size (e.g. 8G)"), key_size, parse_size) // 10**6,
    )
    profile = new_profile(path.stem, facts)
    atomic_write_bytes(path, profile_yaml(profile).encode())
    load_profile_arg(WORKSPACE.catalog(), str(path))  # read back as plan will: the file is a valid profile
    name = profile.name.fr if current_language() == "fr" else profile.name.en
    OUTPUT.info(_("wrote {path}: {name}").format(path=path, name=name))
    OUTPUT.info(_("use it with: packbuilder plan PACK --profile {path}").format(path=path))
