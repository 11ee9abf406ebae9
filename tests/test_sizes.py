"""Sizes read the English and the French way, written in the language of the messages."""

from __future__ import annotations

import pytest

from packbuilder import i18n
from packbuilder.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4G", 4 * 10**9),
        ("4GB", 4 * 10**9),
        ("4 GB", 4 * 10**9),
        ("4Go", 4 * 10**9),
        ("4 Go", 4 * 10**9),
        ("1,5Go", 1_500_000_000),
        ("1.5G", 1_500_000_000),
        ("7,5 Gio", int(7.5 * 2**30)),
        ("7.5GiB", int(7.5 * 2**30)),
        ("512M", 512 * 10**6),
        ("512 Mo", 512 * 10**6),
        ("1000000", 10**6),
        ("1000 octets", 1000),
        ("16 To", 16 * 10**12),
    ],
)
def test_sizes_read_both_ways(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "4 Gx", "1,5,5G", "-1G", "0G", "4 gigas"])
def test_bad_sizes_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"8G|positive"):
        parse_size(text)


def test_sizes_written_the_french_way_under_french() -> None:
    i18n.set_language("fr")
    try:
        assert format_size(4 * 10**9) == "4\u00a0Go"
        assert format_size(1_500_000_000) == "1,5\u00a0Go"
        assert format_size(900) == "900\u00a0octets"
        with pytest.raises(ValueError, match="n’est pas une taille"):
            parse_size("huit")
    finally:
        i18n.set_language("en")
    assert format_size(4 * 10**9) == "4\u00a0GB"
    assert format_size(1_500_000_000) == "1.5\u00a0GB"
    assert format_size(2 * 10**12, "fr") == "2\u00a0To"


def test_size_option_takes_french_units() -> None:
    import json

    from tests.conftest import run_cli

    for text in ("3,5Go", "3.5 GB", "3,5 G"):
        result = run_cli("plan", "asso-essentiel", "--profile", "windows-7-x86", "--size", text, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["capacity_bytes"] == 3_500_000_000
