"""``packbuilder profiles list``."""

from __future__ import annotations

import typer

from packbuilder.cli.common import JsonOpt, load, set_json
from packbuilder.ui import OUTPUT

app = typer.Typer(rich_markup_mode=None, help="Hardware profiles: the kinds of PC a pack is built for.", no_args_is_help=True)


@app.command("list")
def list_profiles(json_flag: JsonOpt = False) -> None:
    """List the hardware profiles."""
    set_json(json_flag)
    catalog = load()
    profiles = sorted(catalog.profiles.values(), key=lambda p: p.id)
    if OUTPUT.json_mode:
        OUTPUT.emit_json({"profiles": [p.model_dump(mode="json", exclude_none=True) for p in profiles]})
        return
    from rich.table import Table

    table = Table(title=f"{len(profiles)} profiles")
    for column in ("id", "os", "arch", "RAM", "firmware", "key", "description"):
        table.add_column(column, no_wrap=column == "id")  # ids are what one types next: never cut
    for p in profiles:
        os_name = p.os.value + (f" (glibc {p.glibc})" if p.glibc else "")
        table.add_row(
            p.id, os_name, p.arch.value, f"{p.ram_mb} MiB", ",".join(f.value for f in p.firmware), f"{p.key_mb} MB", p.name.en
        )
    OUTPUT.out.print(table)
