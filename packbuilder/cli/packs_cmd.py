"""``packbuilder packs list|show``."""

from __future__ import annotations

from typing import Annotated

import typer

from packbuilder.cli.options import WORKSPACE, JsonOpt, set_json
from packbuilder.i18n import _, current_language
from packbuilder.ui import OUTPUT

app = typer.Typer(
    rich_markup_mode=None, help=_("Packs: the sets of apps and documents a key is built from."), no_args_is_help=True
)


@app.command("list", help=_("List the packs, their apps and the profiles they are meant for."))
def list_packs(json_flag: JsonOpt = False) -> None:
    from rich.table import Table

    from packbuilder.packs import list_packs

    set_json(json_flag)
    packs = list_packs(WORKSPACE.catalog())
    if OUTPUT.json_mode:
        OUTPUT.emit_json({"packs": packs})
        return
    lang = current_language()
    table = Table(title=_("{count} packs").format(count=len(packs)), title_justify="left")
    # Ids are what one types next: never cut (no_wrap), the descriptions wrap instead.
    table.add_column(_("id"), no_wrap=True)
    table.add_column(_("name"))
    table.add_column(_("apps"), justify="right")
    table.add_column(_("profiles"), no_wrap=True)
    for p in packs:
        profiles = "\n".join(p["profiles"]) or _("any")
        table.add_row(p["id"], p["name"][lang], str(len(p["apps"])), profiles)
    OUTPUT.show(table)
    OUTPUT.info(_("Details: packbuilder packs show PACK"))


@app.command("show", help=_("A pack's apps, profiles, documents and key label."))
def show_pack(
    pack: Annotated[str, typer.Argument(metavar="PACK", help=_("Pack id, or path of a pack file."))],
    json_flag: JsonOpt = False,
) -> None:
    from packbuilder.catalog import load_pack_arg
    from packbuilder.packs import pack_details

    set_json(json_flag)
    catalog = WORKSPACE.catalog()
    details = pack_details(catalog, load_pack_arg(catalog, pack))
    if OUTPUT.json_mode:
        OUTPUT.emit_json(details)
        return
    from rich.markup import escape

    lang = current_language()
    out = OUTPUT.out
    out.print(f"[bold]{escape(details['id'])}[/] — {escape(details['name'][lang])}")
    out.print(escape(details["summary"][lang]))
    out.print(_("Apps ({count}):").format(count=len(details["apps"])))
    for a in details["apps"]:
        out.print(f"  {escape(a['id'])}  {escape(a['name'])} ({escape(a['category'])})")
    out.print(_("Profiles:") if details["profiles"] else _("Profiles: any"))
    for p in details["profiles"]:
        out.print(f"  {escape(p['id'])}  {escape(p['name'][lang])}")
    out.print(_("Documents: {overlays}").format(overlays=", ".join(details["overlays"]) or "-"))
    out.print(_("Key label: {label} · language: {locale}").format(label=details["label"], locale=details["locale"]))
    if details["base"]:
        out.print(_("Live base: {base}").format(base=details["base"]))
    if details["file"]:
        out.print(_("File: {file}").format(file=details["file"]))
