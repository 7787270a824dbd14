"""The arguments of a typed tool function, as pydantic sees them: the JSON schema the model is
shown, and the validation of what the model sent back against that same schema."""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.errors import (
    PydanticInvalidForJsonSchema,
    PydanticSchemaGenerationError,
    PydanticUserError,
)
from pydantic.fields import FieldInfo

from agentic_loop.tools.base import ToolContext, ToolError

# Longest rendering of a rejected value in an error message; the model sent it, so a hint of
# it is enough.
_SHOWN_INPUT = 60

# Where a JSON schema nests schemas: in maps, lists, or one under a key. Titles are dropped only
# from schemas reached through these, so a property that is itself called "title" survives.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMAS = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
)


@dataclass(frozen=True)
class _Parameter:
    name: str
    positional_only: bool
    # Gets the ToolContext instead of a value from the model.
    context: bool
    # The pydantic field holding its value; parameters are renamed there (the name becomes the
    # alias) so that one called `json` or `schema` cannot clash with BaseModel's attributes.
    field: str


class ToolArguments:
    """How the arguments the model sends become the arguments of one Python function."""

    def __init__(
        self, tool_name: str, signature: inspect.Signature, descriptions: Mapping[str, str]
    ) -> None:
        self._tool_name = tool_name
        parameters: list[_Parameter] = []
        fields: dict[str, Any] = {}
        for position, parameter in enumerate(signature.parameters.values()):
            annotation = self._annotation(parameter)
            field = f"argument_{position}"
            context = _is_context(annotation)
            parameters.append(
                _Parameter(
                    parameter.name,
                    parameter.kind is inspect.Parameter.POSITIONAL_ONLY,
                    context,
                    field,
                )
            )
            if not context:
                fields[field] = _field(parameter, annotation, descriptions.get(parameter.name))
        self._parameters = tuple(parameters)
        self._names = [p.name for p in parameters if not p.context]
        try:
            self._model: type[BaseModel] = create_model(
                f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
            )
            schema = _without_titles(self._model.model_json_schema())
        except (PydanticSchemaGenerationError, PydanticInvalidForJsonSchema) as e:
            raise TypeError(
                f"tool {tool_name!r}: an argument's type has no JSON schema ({e.message}); "
                "use types that JSON can carry (str, int, float, bool, lists, dicts, pydantic "
                "models, dataclasses, TypedDicts, Literal, enums)"
            ) from e
        except PydanticUserError as e:
            raise TypeError(
                f"tool {tool_name!r}: pydantic refused its argument types: {e.message}"
            ) from e
        # In the order a person writes one (pydantic sorts "type" last): `agentic-loop tools`
        # shows it, and hand-written schemas of the other tools read the same way.
        first = ("type", "properties", "required", "additionalProperties")
        self.schema: dict[str, Any] = {k: schema[k] for k in first if k in schema}
        self.schema.update((k, v) for k, v in schema.items() if k not in first)

    def _annotation(self, parameter: inspect.Parameter) -> Any:
        where = f"tool {self._tool_name!r}: parameter {parameter.name!r}"
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"{where} collects arbitrary arguments (*args or **kwargs), which no JSON schema "
                "can describe; name each argument the model may send"
            )
        if parameter.annotation is inspect.Parameter.empty:
            raise TypeError(
                f"{where} has no type hint; annotate it (e.g. `{parameter.name}: str`) so its "
                "JSON schema can be built"
            )
        return parameter.annotation

    def bind(
        self, args: Mapping[str, Any], context: ToolContext
    ) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function, from the model's arguments.

        Raises ToolError, naming every argument that is wrong and how, when they do not fit.
        """
        if not isinstance(args, Mapping):
            raise ToolError("arguments must be a JSON object")
        try:
            # Strict, and from JSON: the model was shown JSON types, so "2" is no integer and
            # true is no number; yet a string still becomes a date or an enum, as JSON has none.
            values = self._model.model_validate_json(json.dumps(dict(args)), strict=True)
        except ValidationError as e:
            raise ToolError(describe_validation_error(e, self._names)) from None
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for parameter in self._parameters:
            value = context if parameter.context else getattr(values, parameter.field)
            if parameter.positional_only:
                positional.append(value)
            else:
                keywords[parameter.name] = value
        return positional, keywords


def describe_validation_error(error: ValidationError, accepted: list[str]) -> str:
    """One line for the model: each argument that failed and why, then what the tool takes
    if it sent one it does not."""
    problems: list[str] = []
    unknown = False
    for item in error.errors(include_url=False):
        where = _location(item["loc"])
        if item["type"] == "missing":
            problems.append(f"{where}: required, but missing")
        elif item["type"] == "extra_forbidden":
            unknown = unknown or len(item["loc"]) == 1
            what = "argument" if len(item["loc"]) == 1 else "field"
            problems.append(f"{where}: unknown {what}")
        else:
            message = " ".join(str(item["msg"]).split())
            problems.append(f"{where}: {message} (got {_shown(item['input'])})")
    text = "invalid arguments: " + "; ".join(problems)
    if unknown:
        text += f"; this tool takes: {', '.join(accepted) or 'no arguments'}"
    return text


def _field(parameter: inspect.Parameter, annotation: Any, description: str | None) -> Any:
    options: dict[str, Any] = {"alias": parameter.name}
    if isinstance(parameter.default, FieldInfo):
        # `x: int = Field(3, ge=1)`, as pydantic's validate_call takes it.
        annotation = Annotated[annotation, parameter.default]
    elif parameter.default is not inspect.Parameter.empty:
        options["default"] = parameter.default
    # A description written on the type (Annotated[..., Field(description=...)]) wins over the
    # docstring's: it is the more deliberate of the two.
    if description and FieldInfo.from_annotation(annotation).description is None:
        options["description"] = description
    return (annotation, Field(**options))


def _is_context(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if annotation is ToolContext:
        return True
    # `ctx: ToolContext | None = None`, so the function can also be called without one.
    if get_origin(annotation) in (Union, types.UnionType):
        return set(get_args(annotation)) == {ToolContext, type(None)}
    return False


def _without_titles(schema: Any) -> Any:
    """The schema without the titles pydantic derives from class and field names: noise to the
    model, which reads the property names and descriptions."""
    if not isinstance(schema, dict):
        return schema
    cleaned = {key: value for key, value in schema.items() if key != "title"}
    for key in _SCHEMA_MAPS:
        if isinstance(cleaned.get(key), dict):
            cleaned[key] = {name: _without_titles(s) for name, s in cleaned[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(cleaned.get(key), list):
            cleaned[key] = [_without_titles(s) for s in cleaned[key]]
    for key in _SCHEMAS:
        if key in cleaned:
            cleaned[key] = _without_titles(cleaned[key])
    return cleaned


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return f"'{path}'"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _SHOWN_INPUT else text[: _SHOWN_INPUT - 1] + "…"
