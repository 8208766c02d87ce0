"""The shape of every partial update (a PATCH body): only the fields sent change."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Changes(BaseModel):
    """Fields left out keep their value. `null` empties a field only where `clearable` allows it; for any
    other field it is refused (422 naming the field), so it never reaches a NOT NULL column."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema, cls: _not_nullable(schema, cls))
    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        # Validators see only the fields that were sent (defaults are not validated), so a field left
        # out is never refused here.
        if value is None and info.field_name not in cls.clearable:
            raise ValueError("may not be null: leave the field out to keep its value")
        return value

    @classmethod
    def from_form(cls, values: dict[str, Any]) -> Self:
        """A page form's values as changes: an input left empty (None) keeps its field, unless the field may be
        emptied. ValidationError names a field out of range."""
        return cls.model_validate({k: v for k, v in values.items() if v is not None or k in cls.clearable})


def _not_nullable(schema: dict[str, Any], model: type[Changes]) -> None:
    """The documented schema says what the validator does: only clearable fields take null."""
    for name, field in schema.get("properties", {}).items():
        options = field.get("anyOf")
        if name in model.clearable or not options:
            continue
        kept = [option for option in options if option.get("type") != "null"]
        field.pop("anyOf")
        field.pop("default", None)
        if len(kept) == 1:
            field.update(kept[0])
        else:
            field["anyOf"] = kept
