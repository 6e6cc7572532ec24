"""Pydantic's validation errors, retold for an operator: where in the file, what to do.

Pydantic reports a location (`loc`) in its own terms: it includes discriminator tags and
`[key]` markers, and it names keys that are missing from the file. We walk that location
over the data actually written to find the line, and reword each error type plainly.
Values are quoted back only where that helps and never from a secret-looking field.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import Problem
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.names import close_matches
from orchestrator.inventory.yaml_lines import DataPath, LocatedData, render_path

_SECRET_LOOKING = re.compile(r"pass|secret|token|credential", re.IGNORECASE)


def problems_from_validation(
    error: ValidationError, file: str, located: LocatedData
) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        path = data_path(detail["loc"], located.data)
        if path in located.unreadable:
            continue
        line = located.line_of(path)
        problems.append(Problem(file, line, render_path(path), describe(detail)))
    return problems


def data_path(loc: tuple[int | str, ...], data: Any) -> DataPath:
    """The part of `loc` that names places in the document, plus a final absent key."""
    path: list[Any] = []
    node = data
    for index, step in enumerate(loc):
        if _has(node, step):
            path.append(step)
            node = node[step]
        elif index == len(loc) - 1 and step != "[key]":
            path.append(step)  # a missing (or, for extra keys, present) last key: name it
        # anything else is pydantic's bookkeeping (a union tag, "[key]"): not in the file
    return tuple(path)


def _has(node: Any, step: int | str) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def describe(detail: ErrorDetails) -> str:
    kind = detail["type"]
    loc = detail["loc"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    got = _got(value, loc)
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing; add it"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "literal_error":
        return _not_one_of(str(ctx.get("expected", "")), value, loc)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number{got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}"
    if kind in ("string_type", "string_sub_type"):
        return f"expected text{got}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list (lines starting with '- '){got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (indented 'key: value' lines){got}"
    if kind in ("path_type", "path_parsing"):
        return f"expected a file path{got}"
    if kind == "ip_any_address":
        return f"not an IP address{got}; write e.g. 10.77.1.11 (host names are not accepted)"
    if kind == "ip_any_interface":
        return f"not an address with a prefix length{got}; write e.g. 10.77.0.10/24"
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    message = detail["msg"]
    if message.startswith("Input should"):
        return "should" + message[len("Input should") :] + got
    return message


def _got(value: Any, loc: tuple[int | str, ...]) -> str:
    if any(isinstance(step, str) and _SECRET_LOOKING.search(step) for step in loc):
        return ""  # a wrong value under a password-like key may itself be the password
    if value is None:
        return ", got nothing (an empty value)"
    if isinstance(value, bool):
        return f", got {str(value).lower()}"
    if isinstance(value, dict):
        return ", got a mapping"
    if isinstance(value, list):
        return ", got a list"
    if isinstance(value, int | float):
        return f", got {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f", got {shown!r}"
    return f", got a {type(value).__name__}"


def _not_one_of(expected: str, value: Any, loc: tuple[int | str, ...]) -> str:
    choices = re.findall(r"'([^']*)'", expected)
    message = f"must be {expected}{_got(value, loc)}"
    close = close_matches(str(value), choices) if isinstance(value, str) else []
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    key = loc[-1]
    model = model_at(Inventory, loc[:-1])
    if model is None:
        return f"unknown key {key!r}; remove it"
    allowed = list(model.model_fields)
    close = close_matches(str(key), allowed)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}; {hint}allowed keys: {', '.join(allowed)}"


def model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the value at `loc`, for listing its allowed keys."""
    annotation: Any = root
    for step in loc:
        annotation = _inner(_unwrap(annotation), step)
        if annotation is None:
            return None
    annotation = _unwrap(annotation)
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_model else None


def _unwrap(annotation: Any) -> Any:
    """Drop Annotated metadata and a `| None`."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _inner(annotation: Any, step: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(step) if isinstance(step, str) else None
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is list:
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    if origin in (Union, types.UnionType):
        # A discriminated union: the step is the tag of the member that was tried.
        for member in get_args(annotation):
            metadata = get_args(member)[1:] if get_origin(member) is Annotated else ()
            if any(isinstance(m, Tag) and m.tag == step for m in metadata):
                return member
    return None
