"""Which fields of a source record are the id, the text, the metadata and the vector.

One frozen value, passed alike by the CLI, :meth:`vecstore.Collection.ingest`, the Ray and the
Spark paths (:class:`FieldMap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vecstore.errors import InvalidInput

IdField = str | Callable[[dict[str, Any]], Any] | None
"""A field name, a function of the record (a key function), or None to derive from the text."""


@dataclass(frozen=True, slots=True)
class FieldMap:
    """The fields of a source record that ingest reads.

    * ``id_field``: a field name, a key function of the record, or None to derive ids from the
      text; int ids become their decimal string.
    * ``text_field``: the text to encode.
    * ``metadata_fields``: the fields kept as metadata; None keeps every field but the id, the
      text and the vector.
    * ``vector_field``: a field that may carry a vector encoded upstream by the same model; a
      record with one is stored with it, a record without is encoded. None: no such field.
    """

    id_field: IdField = "id"
    text_field: str = "text"
    metadata_fields: tuple[str, ...] | None = None
    vector_field: str | None = None

    def __post_init__(self) -> None:
        if not (self.id_field is None or callable(self.id_field) or _name(self.id_field)):
            raise InvalidInput(
                f"id_field must be a field name, a function or None, got {self.id_field!r}",
                field="id_field",
            )
        if not _name(self.text_field):
            raise InvalidInput(
                f"text_field must be a field name, got {self.text_field!r}", field="text_field"
            )
        if self.vector_field is not None and not _name(self.vector_field):
            raise InvalidInput(
                f"vector_field must be a field name, got {self.vector_field!r}",
                field="vector_field",
            )
        if self.metadata_fields is not None:
            given: Any = self.metadata_fields
            if isinstance(given, str) or not all(_name(f) for f in given):
                raise InvalidInput(
                    f"metadata_fields must be a list of field names, got {given!r}",
                    field="metadata_fields",
                )
            object.__setattr__(self, "metadata_fields", tuple(given))

    @classmethod
    def of(
        cls,
        id_field: IdField = "id",
        text_field: str = "text",
        metadata_fields: Sequence[str] | None = None,
        vector_field: str | None = None,
    ) -> FieldMap:
        """The field map of the usual keyword arguments (a list of metadata fields welcome)."""
        fields = tuple(metadata_fields) if metadata_fields is not None else None
        return cls(id_field, text_field, fields, vector_field)

    @property
    def id_name(self) -> str:
        """How errors name the id field (``id`` for a key function or derived ids)."""
        return self.id_field if isinstance(self.id_field, str) else "id"

    def metadata_of(self, record: dict[str, Any]) -> dict[str, Any]:
        """The raw metadata of a record: the chosen fields present, else all but the others."""
        if self.metadata_fields is not None:
            return {k: record[k] for k in self.metadata_fields if k in record}
        skip = {self.text_field, self.vector_field}
        if isinstance(self.id_field, str):
            skip.add(self.id_field)
        return {k: v for k, v in record.items() if k not in skip}


def _name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)
