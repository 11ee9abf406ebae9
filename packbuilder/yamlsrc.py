"""Read YAML while remembering where each value came from.

Validation errors must point at the line of the offending key, not a guess, so
documents are composed into nodes first and every path (``releases[0].sha256``)
is mapped to the line its node starts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from packbuilder.i18n import _

Loc = tuple[int | str, ...]


class YamlSyntaxError(Exception):
    def __init__(self, path: Path, line: int, message: str):
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message


@dataclass
class SourceDoc:
    """A parsed YAML document with a line for every path in it."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest existing node along ``loc`` (1-based)."""
        loc = tuple(loc)
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


def format_loc(loc: Loc) -> str:
    """``('releases', 0, 'sha256')`` -> ``releases[0].sha256``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


# Manifests are a few levels deep and a few hundred values long. Far past that is an attack (an
# alias "bomb" repeats one node millions of times in a few hundred bytes; deep nesting exhausts the stack).
MAX_DEPTH = 40
MAX_VALUES = 200_000


@dataclass
class _Budget:
    values: int = 0


def _convert(node: yaml.Node, loc: Loc, lines: dict[Loc, int], constructor: Any, budget: _Budget) -> Any:
    budget.values += 1
    if budget.values > MAX_VALUES:
        message = _("more than {count} values (aliases repeating a block?): refused")
        raise YamlSyntaxError(Path(), node.start_mark.line + 1, message.format(count=MAX_VALUES))
    if len(loc) > MAX_DEPTH:
        raise YamlSyntaxError(
            Path(), node.start_mark.line + 1, _("nested more than {count} levels deep: refused").format(count=MAX_DEPTH)
        )
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSyntaxError(Path(), key_node.start_mark.line + 1, _("a mapping key must be a plain value"))
            key = constructor.construct_object(key_node, deep=True)
            if key in result:
                raise YamlSyntaxError(
                    Path(), key_node.start_mark.line + 1, _("duplicate key {key!r}: keep only one").format(key=key)
                )
            child = (*loc, key)
            # The line of a key is where a reader looks for it, even when its value is a block below.
            lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, child, lines, constructor, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), lines, constructor, budget) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def load_yaml(path: Path, text: str | None = None) -> SourceDoc:
    """Parse one YAML file; raise YamlSyntaxError (with a line) when it is not valid YAML."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise YamlSyntaxError(path, 1, _("not UTF-8 text ({reason})").format(reason=exc.reason)) from None
    # libyaml's parser when available: the same nodes and marks, several times faster.
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = {} if node is None else _convert(node, (), lines, loader, _Budget())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(path, line, _("YAML syntax error: {reason}").format(reason=exc.problem or exc.context)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, 1, _("YAML error: {reason}").format(reason=exc)) from None
    except RecursionError:
        raise YamlSyntaxError(path, 1, _("nested more than {count} levels deep: refused").format(count=MAX_DEPTH)) from None
    except YamlSyntaxError as exc:
        raise YamlSyntaxError(path, exc.line, exc.message) from None
    finally:
        loader.dispose()
    return SourceDoc(path, data, lines)
