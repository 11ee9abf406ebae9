"""``packbuilder manifest lint|schema``: tools for catalog maintainers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from packbuilder.cli.common import STATE, JsonOpt, set_json
from packbuilder.ui import OUTPUT

app = typer.Typer(rich_markup_mode=None, help="Check and edit manifests (for catalog maintainers).", no_args_is_help=True)


@app.command("lint")
def lint(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Catalog folders or manifest files (default: the current catalog).")
    ] = None,
    json_flag: JsonOpt = False,
) -> None:
    """Check manifests; print every problem as file:line: field: message. Exit 1 if any error."""
    from packbuilder.catalog import find_catalog
    from packbuilder.errors import CheckFailed
    from packbuilder.lint import lint_paths

    set_json(json_flag)
    targets = list(paths) if paths else [find_catalog(STATE.catalog_dir)]
    problems, checked = lint_paths(targets)
    errors = [p for p in problems if p.severity == "error"]
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "files": checked,
                "errors": len(errors),
                "warnings": len(problems) - len(errors),
                "problems": [
                    {"path": p.path, "line": p.line, "field": p.field, "message": p.message, "severity": p.severity}
                    for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            print(problem)
        if not OUTPUT.quiet:
            OUTPUT.err.print(f"{checked} file(s) checked: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    if errors:
        raise typer.Exit(int(CheckFailed.exit_code))


@app.command("schema")
def schema(
    kind: Annotated[str, typer.Option("--kind", help="app, profile, pack or base.")] = "app",
) -> None:
    """Print the JSON Schema of a manifest kind (for editors' YAML completion)."""
    import json

    from packbuilder.errors import InputError
    from packbuilder.model import KINDS

    if kind not in KINDS:
        raise InputError(f"unknown manifest kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    document = KINDS[kind].model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = f"packbuilder {kind} manifest"
    print(json.dumps(document, indent=2, ensure_ascii=False))
