"""pydantic's own validation messages in the user's language.

The English source of each message is pydantic's template (``Input should be {expected}``), so an
English run reads exactly what pydantic says; a translated run fills the translation with the same
context values. A message type not listed here is shown as pydantic wrote it.
"""

from __future__ import annotations

from typing import Any

from packbuilder.i18n import N_, _

# pydantic-core's message templates (pydantic_core list_all_errors), by error type.
TEMPLATES = {
    "missing": N_("Field required"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "model_attributes_type": N_("Input should be a valid dictionary or object to extract fields from"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "too_long": N_("{field_type} should have at most {max_length} item{expected_plural} after validation, not {actual_length}"),
    "string_type": N_("Input should be a valid string"),
    "string_too_short": N_("String should have at least {min_length} character{expected_plural}"),
    "string_too_long": N_("String should have at most {max_length} character{expected_plural}"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "enum": N_("Input should be {expected}"),
    "literal_error": N_("Input should be {expected}"),
    "dict_type": N_("Input should be a valid dictionary"),
    "list_type": N_("Input should be a valid list"),
    "tuple_type": N_("Input should be a valid tuple"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "date_type": N_("Input should be a valid date"),
    "none_required": N_("Input should be None"),
}


def error_text(error: Any) -> str:
    """Our validators' messages (translated when raised) without pydantic's prefix; pydantic's own translated."""
    if error["type"] in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return pydantic_message(error)


def pydantic_message(error: Any) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a sentence in the user's language."""
    msg = str(error["msg"])
    template = TEMPLATES.get(error["type"])
    if template is None or _(template) == template:
        return msg  # English, or not translated: pydantic's own words
    ctx = dict(error.get("ctx") or {})
    expected = ctx.get("expected")
    if isinstance(expected, str) and " or " in expected:  # "'a', 'b' or 'c'": the last "or" is a word
        first, last = expected.rsplit(" or ", 1)
        ctx["expected"] = _("{first} or {last}").format(first=first, last=last)
    try:
        return _(template).format(**ctx)
    except (KeyError, IndexError, ValueError):  # a context value pydantic did not give: its own words
        return msg
