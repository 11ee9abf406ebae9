"""Small languages of ``checkver`` and ``autoupdate``: version constraints, URL and regex templates.

Templates name their fields in braces: ``{version}``, ``{major}``, ``{minor}``, ``{patch}`` (the
version's leading numbers as written, so 7-Zip's ``26.02`` gives ``7z{major}{minor}`` = ``7z2602``),
and for checksum files ``{url}``, ``{basename}`` and ``{relpath}``. Only lowercase names count as
fields, so regex repetitions such as ``[0-9a-f]{64}`` pass through untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from packbuilder.i18n import _
from packbuilder.versions import COMPARATORS, version_key

FIELD_RE = re.compile(r"\{([a-z_]+)\}")
VERSION_FIELDS = ("version", "major", "minor", "patch")
HASH_URL_FIELDS = (*VERSION_FIELDS, "url", "basename")
HASH_REGEX_FIELDS = (*VERSION_FIELDS, "basename", "relpath")
DEFAULT_TAG = "^v?(.+)$"

_SPEC_RE = re.compile(r"^(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.+_~-]*)$")


@dataclass(frozen=True)
class Constraint:
    """``<116`` or ``>=140,<141``: bounds on upstream versions, compared like packbuilder sorts them."""

    specs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        specs: list[tuple[str, str]] = []
        for part in text.split(","):
            match = _SPEC_RE.match(part.strip())
            if not match:
                message = _("bad version bound {bound!r} in {text!r}: use e.g. '<116' or '>=140,<141'")
                raise ValueError(message.format(bound=part.strip(), text=text))
            specs.append((match.group(1), match.group(2)))
        return cls(tuple(specs))

    def allows(self, version: str) -> bool:
        key = version_key(version)
        return all(COMPARATORS[op](key, version_key(bound)) for op, bound in self.specs)

    def __str__(self) -> str:
        return ",".join(op + bound for op, bound in self.specs)


def version_fields(version: str) -> dict[str, str]:
    """``{version}``, and its leading numbers as written: ``26.02`` -> major 26, minor 02."""
    numbers = re.match(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    parts = numbers.groups() if numbers else (None, None, None)
    return {
        "version": version,
        "major": parts[0] or "",
        "minor": parts[1] or "",
        "patch": parts[2] or "",
    }


def expand(template: str, fields: Mapping[str, str]) -> str:
    """Fill a template; an unknown field is an error naming the ones allowed."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            known = ", ".join("{" + f + "}" for f in fields)
            message = _("unknown field {field} in {template!r}: use {known}")
            raise ValueError(message.format(field="{" + name + "}", template=template, known=known))
        return fields[name]

    return FIELD_RE.sub(fill, template)


def _sample(names: tuple[str, ...]) -> dict[str, str]:
    values = {"version": "1.2.3", "major": "1", "minor": "2", "patch": "3", "basename": "app-1.2.3.zip"}
    values["url"] = "https://example.org/app-1.2.3.zip"
    values["relpath"] = "win/app-1.2.3.zip"
    return {name: values[name] for name in names}


def check_url_template(template: str, names: tuple[str, ...] = VERSION_FIELDS) -> None:
    """A URL template must give an absolute http(s) URL and use only known fields."""
    filled = expand(template, _sample(names))
    if not re.match(r"^https?://[^\s/{}]+/\S*$", filled):
        raise ValueError(_("{template!r} is not an absolute http(s) URL template").format(template=template))


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ValueError(_("not a valid regular expression: {reason}").format(reason=exc)) from None


def check_version_regex(pattern: str) -> None:
    compiled = _compile(pattern)
    if "version" not in compiled.groupindex and compiled.groups < 1:
        raise ValueError(_("the regex needs a group for the version: (?P<version>...) or a first (...)"))


def check_hash_regex(template: str) -> None:
    fields = {name: re.escape(value) for name, value in _sample(HASH_REGEX_FIELDS).items()}
    compiled = _compile(expand(template, fields))
    if "hash" not in compiled.groupindex:
        # {{64}}: the regex count, written doubled because the message goes through format()
        raise ValueError(_("the regex needs a named group for the hash: (?P<hash>[0-9a-f]{{64}})").format())


def match_version(pattern: re.Pattern[str], match: re.Match[str]) -> str | None:
    """The version a regex match names: group ``version``, else group 1."""
    if "version" in pattern.groupindex:
        return match.group("version")
    return match.group(1) if pattern.groups >= 1 else None
