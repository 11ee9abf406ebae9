"""The README's commands work: every "Using it" command that needs no network runs against the
shipped catalog, and every pack, profile and base the README names exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from packbuilder.catalog import load_catalog
from tests.conftest import ROOT, run_cli

README = ROOT / "README.md"
# Commands that read the catalog or the cache and never connect (the cache is an empty folder here).
OFFLINE = {("profiles",), ("catalog",), ("packs",), ("plan",), ("manifest", "lint"), ("manifest", "schema"), ("cache", "list")}


def sections(text: str) -> list[tuple[str, str]]:
    """(title, body) of every ``##``/``###`` section, code blocks kept whole."""
    out: list[tuple[str, str]] = []
    in_code = False
    title, body = "", []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"#{2,4} ", line):
            out.append((title, "\n".join(body)))
            title, body = line, []
        else:
            body.append(line)
    out.append((title, "\n".join(body)))
    return out


def commands(text: str) -> list[list[str]]:
    """The ``packbuilder ...`` command lines of the sh code blocks, comments cut, continuations joined."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("packbuilder", "./packbuilder"):
                found.append(words[1:])
    return found


def using_it() -> str:
    """The "Using it" section and its subsections (up to the next ``##``)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Using it")
    return text[start : text.index("\n## ", start + 1)]


def offline(argv: list[str]) -> bool:
    return tuple(argv[:1]) in OFFLINE or tuple(argv[:2]) in OFFLINE


def test_the_using_it_section_has_commands_that_need_no_network() -> None:
    runnable = [argv for argv in commands(using_it()) if offline(argv)]
    assert len(runnable) >= 6
    assert ["packs", "list"] in runnable


def test_every_offline_command_of_using_it_runs(tmp_path: Path) -> None:
    # Run in order in one folder: a command may read the lock an earlier one wrote.
    failures = []
    for argv in commands(using_it()):
        if not offline(argv):
            continue
        result = run_cli(*argv, cwd=tmp_path, env={"PACKBUILDER_CACHE": str(tmp_path / "cache")})
        if result.returncode != 0:
            failures.append(f"packbuilder {shlex.join(argv)}: exit {result.returncode}: {result.stderr[-400:]}")
    assert failures == []


def option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == option]


@pytest.mark.parametrize("doc", ["README.md", "LISEZMOI.md", "CONTRIBUTING.md"])
def test_every_pack_profile_and_base_named_exists(doc: str) -> None:
    path = ROOT / doc
    if not path.exists():
        pytest.fail(f"{doc} is missing")
    catalog = load_catalog(ROOT / "manifests")
    unknown = []
    for argv in commands(path.read_text(encoding="utf-8")):
        for profile in option_values(argv, "--profile") + option_values(argv, "-p"):
            if not profile.endswith(".yaml") and profile not in catalog.profiles:
                unknown.append(f"profile {profile} in: packbuilder {shlex.join(argv)}")
        for base in option_values(argv, "--base"):
            if not base.endswith(".iso") and base not in catalog.bases:
                unknown.append(f"base {base} in: packbuilder {shlex.join(argv)}")
        if argv[:1] in (["plan"], ["build"], ["fetch"]) or argv[:2] == ["packs", "show"]:
            target = argv[2] if argv[0] == "packs" else argv[1]
            if not target.endswith((".lock", ".yaml")) and target not in catalog.packs:
                unknown.append(f"pack {target} in: packbuilder {shlex.join(argv)}")
    assert unknown == []


def _code_blocks(body: str) -> list[list[str]]:
    """A section's code blocks, as what must be the same in both languages: an ``sh`` block's
    commands (comments are prose), another block's first word of each line (paths, keys; the
    descriptions after them are prose)."""
    blocks = []
    for kind, block in re.findall(r"```(\w*)\n(.*?)```", body, flags=re.S):
        if kind == "sh":
            lines = [line.split("  #")[0].rstrip() for line in block.splitlines()]
        else:
            lines = [line.split()[0] if line.split() else "" for line in block.splitlines()]
        blocks.append(lines)
    return blocks


def _table_keys(body: str) -> list[str]:
    """The first cell of each table row that names a command or a code (the rest is prose)."""
    return [row.split("|")[1].strip() for row in body.splitlines() if row.startswith("| `") or re.match(r"\| \d+ \|", row)]


def test_lisezmoi_is_the_readme_in_french() -> None:
    readme = sections(README.read_text(encoding="utf-8"))
    lisezmoi = sections((ROOT / "LISEZMOI.md").read_text(encoding="utf-8"))
    levels = [title.split(" ")[0] for title, _ in readme]
    assert [title.split(" ")[0] for title, _ in lisezmoi] == levels, "same sections, same levels, same order"
    for (title, body), (titre, corps) in zip(readme, lisezmoi, strict=True):
        assert _code_blocks(corps) == _code_blocks(body), f"code blocks differ: {title!r} / {titre!r}"
        assert _table_keys(corps) == _table_keys(body), f"table rows differ: {title!r} / {titre!r}"


def test_the_comparison_sees_a_missing_section_and_a_changed_command() -> None:
    text = README.read_text(encoding="utf-8")
    one = sections(text)
    fewer = sections(text.replace("\n### Exit codes\n", "\nExit codes\n"))
    assert len(fewer) == len(one) - 1
    changed = text.replace("packbuilder packs list  ", "packbuilder packs show  ", 1)
    assert [_code_blocks(b) for _, b in sections(changed)] != [_code_blocks(b) for _, b in one]
