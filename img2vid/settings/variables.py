"""How a setting is read from the environment: its variables (the current name, and an
old one where it was renamed), ``<VARIABLE>_FILE`` for the secrets, and a refusal in the
words of the variable a person set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from img2vid.errors import invalid

PREFIX = "IMG2VID_"


def renamed(name: str) -> AliasChoices:
    """A variable that had no prefix: the new name first, the old one still read."""
    return AliasChoices(PREFIX + name, name)


class _FromFile:
    """A secret's ``NAME_FILE`` variable, read by the field's validator so that a file
    that cannot be read is reported with the other errors."""

    def __init__(self, variable: str, path: str, conflict: str | None) -> None:
        self.variable, self.path, self.conflict = variable, path, conflict

    def read(self) -> str:
        if self.conflict:
            raise invalid("bad_setting", f"set {self.conflict} or {self.variable}, not both")
        try:
            return Path(self.path).read_text().strip()
        except OSError as exc:
            raise invalid("bad_setting", f"{self.variable}: cannot read {self.path} ({exc.strerror})") from None


def read_secret(value: Any) -> Any:
    return value.read() if isinstance(value, _FromFile) else value


Secret = Annotated[str, BeforeValidator(read_secret)]


class FileVariables(PydanticBaseSettingsSource):
    """``<VARIABLE>_FILE`` for each setting marked secret."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        names = variables(field_name, field)
        path = os.environ.get(f"{names[0]}_FILE")
        if not path:
            return None, field_name, False
        given = next((n for n in names if os.environ.get(n)), None)
        # Keyed as the environment's source keys it (a renamed setting by its new name).
        key = names[0] if field.validation_alias else field_name
        return _FromFile(f"{names[0]}_FILE", path, given), key, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name, field in self.settings_cls.model_fields.items():
            if (field.json_schema_extra or {}).get("secret"):
                value, key, _ = self.get_field_value(field, name)
                if value is not None:
                    found[key] = value
        return found


def variables(field_name: str, field: FieldInfo) -> list[str]:
    """The variables a setting is read from, the current name first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    return [PREFIX + field_name.upper()]


def given_name(cls: type[BaseSettings], field_name: str) -> str:
    """The variable this process set for a setting (an old name if that is what it used)."""
    names = variables(field_name, cls.model_fields[field_name])
    return next((n for n in names if os.environ.get(n) or os.environ.get(f"{n}_FILE")), names[0])


_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
}


def explain(cls: type[BaseSettings], error: dict) -> str:
    """One wrong setting in the words of the variable a person set."""
    ctx = error.get("ctx") or {}
    if error["type"] == "bad_setting":
        return str(ctx["message"])
    field_name = str(error["loc"][0]) if error["loc"] else ""
    variable = given_name(cls, field_name) if field_name in cls.model_fields else field_name
    given = error.get("input")
    if error["type"] in _WORDS:
        return f"{variable} {_WORDS[error['type']]}, got {given!r}"
    if error["type"] == "greater_than_equal":
        return f"{variable} must be at least {ctx['ge']:g}, got {given!r}"
    return f"{variable}: {error['msg']}, got {given!r}"
