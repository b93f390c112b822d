"""A generic TOML-table → frozen-dataclass validator that reports every problem with file:line and key path.

Why hand-rolled instead of a schema library: every error must name the file, the key path and (where TOML
lets us find it) the line, and *all* errors are reported at once, so that a user fixes a config in one
round. Plugin-specific keys (a collector's, a sink's, a detector's) are declared by the plugin as a frozen
dataclass `Options`; `parse_options` validates any such dataclass by its type hints, so adding a provider
never touches the config code.

Secrets are never values in the file: a field typed `Secret` is written as `<field>_env = "VAR"` or
`<field>_file = "/path"` (relative paths resolve under $CREDENTIALS_DIRECTORY when systemd sets it).
"""

from __future__ import annotations

import dataclasses
import difflib
import keyword
import re
import types
import typing
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Union

from .timeutil import parse_clock, parse_duration
from .values import Ratio, Secret

UNIONS = (Union, types.UnionType)  # `Optional[X]` and `X | None` spell the same type

# --------------------------------------------------------------------------------------------- locating


class _Locator:
    """Finds the line of a key path in TOML text. tomllib keeps no positions, so we scan headers and keys;
    good enough for the shapes people write by hand, and silent (no line) when unsure."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        if not path:
            return None
        head, rest = path[0], path[1:]
        index = rest[0] if rest and isinstance(rest[0], int) else None
        keys = [k for k in (rest[1:] if index is not None else rest) if isinstance(k, str)]
        seen = -1
        in_section = False
        header_line = None
        for no, raw in enumerate(self.lines, 1):
            line = raw.strip()
            m = re.match(r"^\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?", line)
            if m:
                name = m.group(1).strip('"')
                if index is not None:
                    if line.startswith("[[") and name == head:
                        seen += 1
                        in_section = seen == index
                    else:
                        in_section = False
                else:
                    in_section = name == head or bool(keys and name == f"{head}.{keys[0]}")
                if in_section:
                    header_line = no
                continue
            if in_section and keys:
                if re.match(rf"^{re.escape(keys[0])}(_env|_file)?\s*=", line):
                    return no
        return header_line


# ------------------------------------------------------------------------------------------------ parsing


class Problems:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = _Locator(text)
        self._found: list[tuple[int, int, str]] = []

    def add(self, path: tuple[Any, ...], message: str) -> None:
        line = self.locator.line_of(path)
        where = f"{self.file}:{line}" if line else self.file
        self._found.append((line or 0, len(self._found), f"{where}: {format_path(path)}: {message}"))

    @property
    def items(self) -> list[str]:
        """In file order (problems without a line first), so the report reads top to bottom."""
        return [text for _, _, text in sorted(self._found)]


def format_path(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", Decimal: 'a decimal string (e.g. "5000.00")',
            timedelta: 'a duration (e.g. "1h")', time: 'a clock time ("HH:MM")'}.get(tp, str(tp))


def convert(value: Any, tp: Any, path: tuple[Any, ...], probs: Problems) -> Any:
    """Convert one TOML value to the annotated type; on failure record a problem and return a sentinel."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in UNIONS:  # Optional[X], or X | None
        inner = [a for a in args if a is not type(None)]
        return convert(value, inner[0], path, probs)
    if origin is Literal:
        if value not in args:
            probs.add(path, f"must be one of {', '.join(map(str, args))} (got {value!r})")
            return BAD
        return value
    if tp is Ratio:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            probs.add(path, f"not a number ({value!r})")
            return BAD
        try:
            r = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
            if not r.is_finite():
                raise InvalidOperation
            return r
        except InvalidOperation:
            probs.add(path, f'not a number ("{value}")')
            return BAD
    if tp is Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            if isinstance(value, float):
                probs.add(path, f'write money as a decimal string, not a float (e.g. "{value}")')
            else:
                probs.add(path, f"not a decimal ({value!r})")
            return BAD
        try:
            d = Decimal(str(value).strip())
            if not d.is_finite():
                raise InvalidOperation
            return d
        except InvalidOperation:
            probs.add(path, f'not a decimal ("{value}")')
            return BAD
    if tp is timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            probs.add(path, str(exc))
            return BAD
    if tp is time:
        try:
            return parse_clock(value)
        except ValueError as exc:
            probs.add(path, str(exc))
            return BAD
    if tp is bool:
        if not isinstance(value, bool):
            probs.add(path, f"expected true or false, got {type(value).__name__} ({value!r})")
            return BAD
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            probs.add(path, f"expected an integer, got {type(value).__name__} ({value!r})")
            return BAD
        return value
    if tp is str:
        if not isinstance(value, str):
            probs.add(path, f"expected a string, got {type(value).__name__} ({value!r})")
            return BAD
        return value
    if origin is list:
        (inner,) = args
        if isinstance(value, str) and inner is str:
            value = [value]
        if not isinstance(value, list):
            probs.add(path, f"expected a list, got {type(value).__name__}")
            return BAD
        out = [convert(v, inner, path + (i,), probs) for i, v in enumerate(value)]
        return BAD if any(v is BAD for v in out) else out
    if origin is dict:
        if not isinstance(value, dict):
            probs.add(path, f"expected a table, got {type(value).__name__}")
            return BAD
        return dict(value)
    raise TypeError(f"config type {tp!r} not supported")  # a programming error in a plugin's Options


class _Bad:
    def __repr__(self) -> str:
        return "<invalid>"


BAD = _Bad()


def toml_key(field_name: str) -> str:
    """A field named after a Python keyword plus "_" (`from_`) is written without the "_" (`from`)."""
    return field_name[:-1] if field_name.endswith("_") and keyword.iskeyword(field_name[:-1]) else field_name


def parse_options(cls: type, table: dict[str, Any], path: tuple[Any, ...], probs: Problems,
                  skip: frozenset[str] = frozenset()) -> Any:
    """Build dataclass `cls` from `table`, reporting unknown keys, missing required ones and bad types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    known: set[str] = set(skip)
    for name, f in fields.items():
        tp = hints[name]
        is_secret = tp is Secret or (typing.get_origin(tp) in UNIONS and Secret in typing.get_args(tp))
        if is_secret:
            known |= {f"{name}_env", f"{name}_file"}
            env, file = table.get(f"{name}_env"), table.get(f"{name}_file")
            if env is not None and file is not None:
                probs.add(path + (f"{name}_env",), f"give either {name}_env or {name}_file, not both")
                kwargs[name] = BAD
                continue
            if env is None and file is None:
                if f.default is dataclasses.MISSING:
                    probs.add(path + (f"{name}_env",), f"missing: set {name}_env (an environment variable name) or {name}_file")
                    kwargs[name] = BAD
                continue
            ref_key = f"{name}_env" if env is not None else f"{name}_file"
            ref_val = env if env is not None else file
            if not isinstance(ref_val, str) or not ref_val:
                probs.add(path + (ref_key,), "expected the name of an environment variable or a file path")
                kwargs[name] = BAD
                continue
            if env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                probs.add(path + (ref_key,), f"not an environment variable name ({env!r}); put the secret in the environment, not in this file")
                kwargs[name] = BAD
                continue
            kwargs[name] = Secret(key=format_path(path + (name,)), env=env, file=file)
            continue
        key = toml_key(name)
        known.add(key)
        if key in table:
            kwargs[name] = convert(table[key], tp, path + (key,), probs)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            probs.add(path + (key,), "missing (required)")
            kwargs[name] = BAD
    for key in table:
        if key not in known:
            hint = closest(key, sorted(known))
            probs.add(path + (key,), "unknown key" + (f" (did you mean {hint!r}?)" if hint else ""))
    if any(v is BAD for v in kwargs.values()):
        return BAD
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        probs.add(path, str(exc))
        return BAD


def closest(key: str, candidates: list[str]) -> str | None:
    m = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return m[0] if m else None


def table_list(raw: dict[str, Any], key: str, probs: Problems) -> list[dict[str, Any]]:
    """The `[[key]]` tables of a config, or [] with a problem recorded when `key` is not a list of tables."""
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        probs.add((key,), f"expected [[{key}]] tables")
        return []
    return value
