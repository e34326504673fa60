"""Documented defaults: the configuration models rendered as commented TOML."""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    ann = info.annotation
    for candidate in (ann, *get_args(ann)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _dict_model(info: FieldInfo) -> type[BaseModel] | None:
    ann = info.annotation
    if get_origin(ann) is dict:
        args = get_args(ann)
        if len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            return args[1]
    return None


def describe(model: type[BaseModel], table: str = "", example_key: str = "NAME") -> str:
    """Render *model* as TOML: each field with its description and default."""
    lines: list[str] = []
    subtables: list[tuple[str, type[BaseModel], str]] = []
    for name, info in model.model_fields.items():
        sub = _model_of(info)
        dict_sub = _dict_model(info)
        if dict_sub is not None:
            path = f"{table}.{name}" if table else name
            subtables.append((path, dict_sub, info.description or ""))
            continue
        if sub is not None and info.default_factory is not None:
            subtables.append(("", sub, f"{table}.{name}" if table else name))
            continue
        doc = info.description or ""
        if info.is_required():
            lines.append(f"# {doc} (required)")
            lines.append(f"{name} = ...")
        else:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump()
            lines.append(f"# {doc}")
            value = "" if default is None else _toml_value(default)
            lines.append(f"{name} = {value}" if value else f"# {name} = (unset)")
    out = "\n".join(lines)
    for prefix, sub, extra in subtables:
        if prefix:
            header = f"{prefix}.{example_key}"
            body = describe(sub, header)
            out += f"\n\n# {extra}\n[{header}]\n{body}"
        else:
            body = describe(sub, extra)
            out += f"\n\n[{extra}]\n{body}"
    return out.strip("\n")
