"""What ``manifest lint`` adds for reviewers, all in one run: where hashes and requirements come
from, releases newest first, a program to start on Windows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from packbuilder.lint import lint_paths
from packbuilder.lint_rules import checksum_source_problem
from tests.conftest import run_cli

APP = """\
id: sloppy
name: Sloppy
category: office
license: MIT
homepage: https://sloppy.example.org/
source_code: https://sloppy.example.org/src
summary:
  fr: Négligé.
  en: Sloppy.
releases:
  - version: "1.0"
    artifacts:
      - platform: windows
        arch: x86
        kind: zip
        url: http://sloppy.example.org/s-1.0.zip
        sha256: 0123
        checksum_source: je l'ai calculé
        size: 12
        requires:
          os: windows>=6.1
  - version: "1.1"
    artifacts:
      - platform: windows
        arch: x86
        kind: zip
        url: https://sloppy.example.org/s-1.1.zip
        sha256: abababababababababababababababababababababababababababababababab
        checksum_source: upstream checksum file https://sloppy.example.org/SHA256SUMS
        size: 12
        launch: s.exe
        no_launch: it has one
"""


@pytest.mark.parametrize(
    "text",
    [
        "upstream checksum file https://github.com/keepassxreboot/keepassxc/releases/download/2.7.9/x.zip.DIGEST",
        "https://download.example.org/1.0/SHA256SUMS",
        "https://example.org/app-1.0-win64.zip.sha256",
        "ScoopInstaller/Extras bucket/keepassxc.json @ cd859b80b1a30eeb54b18f140c7d9972f68dfb31 (2026-08-22)",
        "upstream release news Gnucash/gnucash-htdocs news/200628-3.11.news @ aa2fe55692e0a60cf6e6680d7d3c93e824617e60",
        "downloaded and hashed by packbuilder manifest bump from https://example.org/x-2.11.zip",
    ],
)
def test_checksum_sources_that_name_their_source(text: str) -> None:
    assert checksum_source_problem(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "je l'ai calculé",
        "fixture",
        "https://example.org/download.html",  # a page, not a checksum file
        "http://example.org/SHA256SUMS",  # not https
        "ScoopInstaller/Extras bucket/keepassxc.json",  # no commit
        "downloaded and hashed by packbuilder manifest bump",  # no URL
    ],
)
def test_checksum_sources_that_do_not(text: str) -> None:
    assert checksum_source_problem(text) is not None


def test_every_problem_in_one_run(mini: Path) -> None:
    (mini / "apps" / "sloppy.yaml").write_text(APP, encoding="utf-8")
    problems, _ = lint_paths([mini / "apps" / "sloppy.yaml"])
    found = {(p.line, p.field, p.severity): p.message for p in problems}
    assert found.keys() >= {
        (16, "releases[0].artifacts[0].url", "error"),  # http: no longer waits for the hash
        (17, "releases[0].artifacts[0].sha256", "error"),
        (18, "releases[0].artifacts[0].checksum_source", "error"),
        (20, "releases[0].artifacts[0].requires.source", "error"),
        (13, "releases[0].artifacts[0].launch", "error"),
        (22, "releases[1].version", "error"),
        (32, "releases[1].artifacts[0].no_launch", "error"),
    }, sorted(found)
    assert "1.1 is newer than 1.0" in found[(22, "releases[1].version", "error")]


def test_lint_cli_reports_them_and_exits_1(mini: Path) -> None:
    (mini / "apps" / "sloppy.yaml").write_text(APP, encoding="utf-8")
    result = run_cli("manifest", "lint", str(mini))
    assert result.returncode == 1
    assert sum("sloppy.yaml" in line for line in result.stdout.splitlines()) >= 7


def test_no_launch_with_a_reason_is_accepted(mini: Path) -> None:
    text = APP.replace("http://", "https://").replace("sha256: 0123\n", "sha256: " + "c" * 64 + "\n")
    text = text.replace("checksum_source: je l'ai calculé", "checksum_source: https://sloppy.example.org/SHA256SUMS")
    text = text.replace("          os: windows>=6.1\n", "          os: windows>=6.1\n          source: estimate\n")
    no_launch = "        size: 12\n        no_launch: fonts only\n        requires:"
    text = text.replace("        size: 12\n        requires:", no_launch, 1)
    # newest first, and one of launch / no_launch
    first, second = text.split('  - version: "1.1"\n')
    head, rel10 = first.split('  - version: "1.0"\n')
    text = head + '  - version: "1.1"\n' + second.replace("        no_launch: it has one\n", "") + '  - version: "1.0"\n' + rel10
    shutil.rmtree(mini / "packs")
    (mini / "apps" / "sloppy.yaml").write_text(text, encoding="utf-8")
    problems, _ = lint_paths([mini / "apps" / "sloppy.yaml"])
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_the_shipped_catalog_passes_the_review_rules() -> None:
    from tests.conftest import ROOT

    problems, checked = lint_paths([ROOT / "manifests"])
    assert checked > 30
    assert [str(p) for p in problems if p.severity == "error"] == []
