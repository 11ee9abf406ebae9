from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from packbuilder.versions import OsRange, Version, is_valid_version, version_key, windows_name


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("140.9.0esr", "140.14.0esr"),
        ("115.15.0esr", "140.14.0esr"),
        ("2.10.38", "3.2.4"),
        ("2.9.4", "2.10.0"),
        ("25.2.5", "26.2.5"),
        ("5.4.7.2", "25.2.5"),
        ("1.0rc1", "1.0"),
        ("1.0beta2", "1.0rc1"),
        ("1.0", "1.0esr"),
        ("1.0esr", "1.0.1"),
        ("26.01", "26.02"),
        ("7.9.2", "8.9.7"),
    ],
)
def test_real_version_strings_order(older: str, newer: str) -> None:
    assert Version(older) < Version(newer)
    assert version_key(older) < version_key(newer)


def test_trailing_zeros_and_leading_zeros_do_not_matter() -> None:
    assert Version("26.2") == Version("26.2.0")
    assert Version("26.02") == Version("26.2")


@pytest.mark.parametrize("text", ["latest", "", "v1.0", "1.0 beta"])
def test_unsortable_versions_are_refused(text: str) -> None:
    assert not is_valid_version(text)


_parts = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=5)


@given(_parts, _parts)
def test_numeric_versions_order_like_integer_tuples(a: list[int], b: list[int]) -> None:
    def strip(xs: list[int]) -> list[int]:
        while len(xs) > 1 and xs[-1] == 0:
            xs = xs[:-1]
        return xs

    va, vb = Version(".".join(map(str, a))), Version(".".join(map(str, b)))
    sa, sb = strip(a), strip(b)
    # Pad with zeros: 1.2 == 1.2.0 < 1.2.1
    width = max(len(sa), len(sb))
    pa, pb = sa + [0] * (width - len(sa)), sb + [0] * (width - len(sb))
    assert (va < vb) == (pa < pb)
    assert (va == vb) == (pa == pb)


_suffix = st.sampled_from(["", "esr", "rc1", "beta2", "a1", "lts"])


@given(st.lists(st.tuples(_parts, _suffix), min_size=1, max_size=8))
def test_version_order_is_total_and_consistent(items: list[tuple[list[int], str]]) -> None:
    versions = [Version(".".join(map(str, nums)) + suffix) for nums, suffix in items]
    ordered = sorted(versions)
    for x, y in itertools.pairwise(ordered):
        assert not y < x
    for x in versions:
        for y in versions:
            assert (x < y) + (y < x) + (x == y) == 1


@pytest.mark.parametrize(
    ("text", "family", "version", "inside"),
    [
        ("windows>=6.1", "windows", "6.1", True),
        ("windows>=6.1", "windows", "6.0", False),
        ("windows>=6.1,<10", "windows", "10.0", False),
        ("windows>=6.1,<10", "windows", "6.3", True),
        ("windows>=5.1", "windows", "10.0.22000", True),
        ("linux-glibc>=2.28", "linux-glibc", "2.28", True),
        ("linux-glibc>=2.28", "linux-glibc", "2.27", False),
        ("linux-glibc>=2.28", "windows", "10.0", False),
    ],
)
def test_os_ranges_at_their_boundaries(text: str, family: str, version: str, inside: bool) -> None:
    assert OsRange.parse(text).contains(family, version) is inside


@pytest.mark.parametrize("text", ["windows>=six", "macos>=10", "windows=>6.1", ">=6.1"])
def test_bad_os_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not an OS range|unknown OS family|bad version bound"):
        OsRange.parse(text)


def test_windows_names() -> None:
    assert windows_name("5.1") == "Windows XP"
    assert windows_name("6.1") == "Windows 7"
    assert windows_name("10.0") == "Windows 10"
