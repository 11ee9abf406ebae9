"""Boot menus of a live base, edited for a key with a persistence volume.

live-boot keeps what a person saves between sessions only when the kernel command line says
``persistence``. A key made with ``--persistence`` therefore gets, in the base's own menus copied
onto it, a first entry « Avec sauvegarde (persistance) » (« With saving (persistence) » for an
English pack): a copy of the base's first live entry (``boot=live`` on its kernel line) with
``persistence`` added. The base's entries stay as they are, after it.

Two menu syntaxes are read:

- ISOLINUX/SYSLINUX (``isolinux.cfg`` and the files it includes, e.g. Debian live's ``live.cfg``):
  a ``label`` block, its ``menu label``, ``linux``/``kernel``, ``initrd`` and ``append`` lines;
  the new block takes ``menu default`` when the copied one had it (the base's loses it);
- GRUB (``boot/grub/grub.cfg``): a ``menuentry "..." { ... }`` block whose ``linux`` line has
  ``boot=live``. GRUB starts the first entry unless the config sets ``default``.

The edit is textual and refuses what it does not understand (no live entry: None), so a base with
an unusual menu keeps its own, and the caller says that persistence must be chosen by hand.
"""

from __future__ import annotations

import re

LABELS = {"fr": "Avec sauvegarde (persistance)", "en": "With saving (persistence)"}
PERSISTENCE = "persistence"

_SYSLINUX_LABEL = re.compile(r"^[ \t]*label[ \t]+\S+", re.IGNORECASE | re.MULTILINE)
_GRUB_ENTRY = re.compile(r"^([ \t]*)menuentry[ \t]+(['\"])(.*?)\2([^{\n]*)\{", re.MULTILINE)


def _with_persistence(line: str) -> str:
    """A kernel command line with ``persistence`` added once (before a ``---`` separator if any)."""
    if re.search(rf"(^|\s){PERSISTENCE}(\s|$)", line):
        return line
    if " --- " in line or line.rstrip().endswith(" ---"):
        head, sep, tail = line.partition(" ---")
        return f"{head} {PERSISTENCE}{sep}{tail}"
    return f"{line.rstrip()} {PERSISTENCE}" + line[len(line.rstrip()) :]


def _syslinux_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ``label`` block: from its line to the next label (or the end)."""
    starts = [m.start() for m in _SYSLINUX_LABEL.finditer(text)]
    return [(s, starts[i + 1] if i + 1 < len(starts) else len(text)) for i, s in enumerate(starts)]


def syslinux_add_persistence(text: str, lang: str = "fr") -> str | None:
    """The config with a persistence entry before its first live entry; None when it has none."""
    for start, end in _syslinux_blocks(text):
        block = text[start:end]
        if not re.search(r"^[ \t]*append[ \t].*\bboot=live\b", block, re.IGNORECASE | re.MULTILINE):
            continue
        lines = block.splitlines(keepends=True)
        new = []
        for line in lines:
            word = line.strip().split(maxsplit=1)[0].lower() if line.strip() else ""
            if word == "label":
                indent = line[: len(line) - len(line.lstrip())]
                new.append(f"{indent}label packbuilder-persistence\n")
            elif word == "menu" and line.strip().lower().startswith("menu label"):
                indent = line[: len(line) - len(line.lstrip())]
                new.append(f"{indent}menu label {LABELS.get(lang, LABELS['en'])}\n")
            elif word == "append":
                new.append(_with_persistence(line.rstrip("\n")) + "\n")
            else:
                new.append(line)
        if not any(line.strip().lower().startswith("menu label") for line in lines):
            new.insert(1, f"\tmenu label {LABELS.get(lang, LABELS['en'])}\n")
        entry = "".join(new)
        if not entry.endswith("\n\n"):
            entry += "\n"
        base_block = re.sub(r"^[ \t]*menu[ \t]+default[ \t]*\n", "", block, flags=re.IGNORECASE | re.MULTILINE)
        return text[:start] + entry + base_block + text[end:]
    return None


def _grub_block_end(text: str, brace: int) -> int | None:
    """Index just after the ``}`` closing the block whose ``{`` is at ``brace`` (quotes respected)."""
    depth, quote, i = 0, "", brace
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def grub_add_persistence(text: str, lang: str = "fr") -> str | None:
    """The GRUB config with a persistence entry before its first live entry; None when it has none."""
    for match in _GRUB_ENTRY.finditer(text):
        end = _grub_block_end(text, match.end() - 1)
        if end is None:
            return None
        block = text[match.start() : end]
        linux = re.search(r"^([ \t]*linux(?:efi)?[ \t]+)(.*)$", block, re.MULTILINE)
        if linux is None or not re.search(r"\bboot=live\b", linux.group(2)):
            continue
        indent, quote = match.group(1), match.group(2)
        title = LABELS.get(lang, LABELS["en"])
        # The copy keeps the entry's options but not its id or hotkey, which must stay unique.
        options = re.sub(r"\s--(?:id|hotkey)[ =]\S+", "", match.group(4))
        head = f"{indent}menuentry {quote}{title}{quote}{options}{{"
        body = block[match.end() - match.start() :]
        body = body.replace(linux.group(0), linux.group(1) + _with_persistence(linux.group(2)), 1)
        entry = head + body
        return text[: match.start()] + entry + "\n" + text[match.start() :]
    return None
