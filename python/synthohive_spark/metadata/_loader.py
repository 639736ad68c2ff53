"""Reading metadata text: YAML (duplicate keys refused) or JSON, from files or text, and pydantic
validation errors turned into one readable message per problem."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from pydantic import ValidationError

from synthohive_spark.errors import MetadataError


def _fmt_list(items: Iterable[Any]) -> str:
    items = list(items)
    return ", ".join(str(i) for i in items) if items else "none"


def _read_source(source: Union[str, Path], suffixes: tuple[str, ...]) -> tuple[str, str]:
    if isinstance(source, Path):
        path = source
    elif isinstance(source, str) and "\n" not in source and (
            source.lower().endswith(suffixes) or os.path.isfile(source)):
        path = Path(source)
    else:
        if not isinstance(source, str):
            raise MetadataError(f"expected text or a path, got {type(source).__name__}")
        return source, "the given text"
    if not path.is_file():
        raise MetadataError(f"metadata file {str(path)!r} does not exist")
    return path.read_text(encoding="utf-8"), repr(str(path))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(source: Union[str, Path]) -> Any:
    """The data of YAML text or a YAML file; malformed or empty YAML is a MetadataError."""
    text, origin = _read_source(source, (".yaml", ".yml"))
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise MetadataError(f"malformed YAML in {origin}{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise MetadataError(f"malformed YAML in {origin}: {exc}") from None
    if data is None:
        raise MetadataError(f"{origin} is empty; expected a mapping with a 'tables' key")
    return data


def _read_json(source: Union[str, Path]) -> Any:
    """The data of JSON text or a JSON file; malformed JSON is a MetadataError."""
    text, origin = _read_source(source, (".json",))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"malformed JSON in {origin} at line {exc.lineno}, column "
                            f"{exc.colno}: {exc.msg}") from None


def _loc_model(loc: tuple, root: type) -> Optional[type]:
    """The model class whose field the last element of ``loc`` names."""
    from synthohive_spark.metadata.schema import (ColumnConfig, ForeignKey, Metadata,
                                                  PrivacyConfig, TableConfig)

    if root is not Metadata:
        return root if len(loc) == 1 else None
    if len(loc) == 1:
        return Metadata
    if loc[0] == "privacy" and len(loc) == 2:
        return PrivacyConfig
    if loc[0] == "tables":
        if len(loc) == 3:
            return TableConfig
        if len(loc) == 5 and loc[2] == "columns":
            return ColumnConfig
        if len(loc) == 5 and loc[2] == "foreign_keys":
            return ForeignKey
    return None


def _describe_loc(loc: tuple, root: type) -> str:
    from synthohive_spark.metadata.schema import Metadata

    if root is Metadata and len(loc) >= 2 and loc[0] == "tables":
        parts = [f"table {loc[1]!r}"]
        if len(loc) >= 4 and loc[2] == "columns":
            parts.append(f"column {loc[3]!r}")
            rest = loc[4:]
        elif len(loc) >= 4 and loc[2] == "foreign_keys":
            parts.append(f"foreign key #{loc[3]}")
            rest = loc[4:]
        else:
            rest = loc[2:]
        if rest:
            parts.append("field " + ".".join(str(x) for x in rest))
        return ", ".join(parts)
    return ("field " + ".".join(str(x) for x in loc)) if loc else "metadata"


def _validation_messages(exc: ValidationError, root: type) -> list[str]:
    msgs = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            model = _loc_model(loc, root)
            allowed = f" (allowed keys: {_fmt_list(model.model_fields)})" if model else ""
            msgs.append(f"{_describe_loc(loc[:-1], root)}: unknown key {loc[-1]!r}{allowed}")
        else:
            msg = str(err.get("msg", "invalid value"))
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            msgs.append(f"{_describe_loc(loc, root)}: {msg}")
    return msgs


def _format_validation_error(exc: ValidationError, root: type) -> str:
    msgs = _validation_messages(exc, root)
    return (f"invalid {root.__name__} ({len(msgs)} problem{'s' if len(msgs) > 1 else ''}):\n"
            + "\n".join(f"  - {m}" for m in msgs))
