"""One window of source records checked, then compared with what the store holds.

:func:`check_record` turns a source record into an :class:`Item` or raises ``InvalidInput``
saying what is wrong with it; :func:`plan` sorts a window's items by what storing them changes
(:func:`vecstore.hashing.change_of`): new or changed text (encode, unless the record carries its
vector), metadata only (rewrite with the stored vector), or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vecstore import validation
from vecstore.errors import InvalidInput
from vecstore.hashing import change_of, stamp, vector_hash
from vecstore.jobs.fields import FieldMap
from vecstore.jobs.sources import Unreadable
from vecstore.metadata import MetadataPolicy, normalize_metadata
from vecstore.records import Metadata, StoredRecord, Vectors
from vecstore.reserved import SOURCE_KEY


@dataclass(slots=True)
class Item:
    """A checked source record."""

    where: str
    id: str
    text: str
    metadata: Metadata
    vhash: str
    vector: Vectors | None = None
    tag: str = ""  # the source tag it is stored with (set by plan)

    def stored_metadata(self) -> Metadata:
        """The metadata written for it: the user's, the hashes, the source tag."""
        return stamp(self.metadata, self.vhash, self.tag)


@dataclass(frozen=True, slots=True)
class Rules:
    """What checking a record needs to know of the collection and the run."""

    fields: FieldMap
    model: str
    dimension: int
    policy: MetadataPolicy = "strict"


def _record_id(record: dict[str, Any], fields: FieldMap, text: str) -> str:
    if fields.id_field is None:
        return validation.derived_id(text, None)
    id_field = fields.id_field
    raw = id_field(record) if callable(id_field) else record.get(id_field)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw:
        raise InvalidInput(
            f"must be a non-empty str or int, got {raw!r} (pass id_field=None to derive ids "
            "from the text)",
            field=fields.id_name,
        )
    return validation.check_unicode(str(raw), None, fields.id_name)


def check_record(where: str, record: Any, rules: Rules) -> Item:
    """One source record, checked whole, or InvalidInput saying what is wrong with it."""
    if isinstance(record, Unreadable):
        raise InvalidInput(record.reason)
    if not isinstance(record, dict):
        raise InvalidInput(f"expected an object, got {type(record).__name__}")
    fields = rules.fields
    if fields.text_field not in record:
        raise InvalidInput("missing", field=fields.text_field)
    text = validation.check_text(record[fields.text_field], where)
    rid = _record_id(record, fields, text)
    meta = normalize_metadata(fields.metadata_of(record), rid, rules.policy)
    given = record.get(fields.vector_field) if fields.vector_field is not None else None
    vector = None
    if given is not None:
        vector = validation.check_vectors(
            given, rules.dimension, [rid], field=str(fields.vector_field)
        )[0]
    return Item(where, rid, text, meta, vector_hash(rules.model, text), vector)


def _tag_of(record: StoredRecord) -> str:
    tag = record.metadata.get(SOURCE_KEY, "")
    return tag if isinstance(tag, str) else ""


@dataclass(slots=True)
class Plan:
    """A window's items by what storing them changes."""

    write: list[Item] = field(default_factory=list)  # new or changed text: encode or given
    metadata: list[Item] = field(default_factory=list)  # text unchanged, metadata changed
    unchanged: int = 0

    @property
    def to_encode(self) -> list[Item]:
        """The items to write that carry no vector of their own."""
        return [it for it in self.write if it.vector is None]


def plan(items: Sequence[Item], stored: Sequence[StoredRecord], model: str, tag: str) -> Plan:
    """Sort ``items`` against the records the store holds for their ids.

    A run with a source ``tag`` stores its records under it (taking over records another tag
    wrote). A run without one keeps the tag a stored record carries: it neither strips it nor
    rewrites the record for it, so an untagged run (an ad hoc load, a CLI run) over a tagged
    source's records changes what the source would, and its sync still owns them.
    """
    held = {r.id: r for r in stored}
    out = Plan()
    for it in items:
        found = held.get(it.id)
        it.tag = tag or (_tag_of(found) if found is not None else "")
        change = change_of(found, model, it.text, it.vhash, it.metadata, it.tag)
        if change == "unchanged":
            out.unchanged += 1
        elif change == "metadata":
            out.metadata.append(it)
        else:
            out.write.append(it)
    return out
