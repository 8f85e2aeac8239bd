"""The commands: each checks its arguments, then opens the collection, then does one thing.

Argument and input-file errors are found before any store or model work (:func:`checked`);
the model loads only when a text is encoded (an ingest of changed texts, a text query).
Commands that read a collection never create it: one that does not exist is an error naming
it and where the store is.
"""

from __future__ import annotations

import argparse
from typing import Any

from vecstore.cli.output import dump, meta, note, short, table
from vecstore.collection import Collection, open_collection
from vecstore.config import Settings, load_settings
from vecstore.errors import CollectionNotFound, ConfigError, InvalidInput
from vecstore.filters import Filter, parse


def where_of(args: argparse.Namespace) -> Filter | None:
    """The parsed ``--where`` filter (None without one)."""
    raw = getattr(args, "where", None)
    if not raw:
        return None
    import orjson

    try:
        return parse(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"--where is not valid JSON: {exc}", field="where") from exc


def persistent(settings: Settings) -> Settings:
    """``settings``, unless their store keeps its data in memory: a command's would be lost."""
    memory = settings.memory_only()
    if memory is not None:
        raise ConfigError(
            f"{memory} keeps the data in one process only: each vecstore command is a process "
            "of its own, so what it wrote would be gone; set a path or a server"
        )
    return settings


def open_existing(args: argparse.Namespace, *, create: bool = False) -> Collection:
    """The collection ``--collection`` names (default: the configured one)."""
    persistent(load_settings(args.config))
    try:
        return open_collection(args.collection, config_file=args.config, create=create)
    except CollectionNotFound as exc:
        raise CollectionNotFound(f"{exc}; `vecstore list` shows the collections there") from exc


SYNC_SKIPPED = 3
"""Exit status of an ingest whose ``--sync`` deleted nothing (a cron job must notice)."""
RECORDS_FAILED = 2
"""Exit status of an ingest in which records failed (they are in the dead-letter file)."""


def cmd_ingest(args: argparse.Namespace) -> int:
    """Stream a file into the collection and print the run report.

    Exit status: :data:`SYNC_SKIPPED` when ``--sync`` deleted nothing (records failed, or more
    than ``--max-delete`` would go), else :data:`RECORDS_FAILED` when records failed, else 0.
    """
    from pathlib import Path

    from vecstore.jobs.progress import IngestProgress
    from vecstore.jobs.sources import count_records

    dead = args.dead_letter or f"{Path(args.path).stem}.dead.jsonl"
    with open_existing(args, create=True) as col:
        total = count_records(args.path)
        as_log = args.log_format == "json"
        with IngestProgress(total, quiet=args.quiet, as_log=as_log) as watch:
            report = col.ingest(
                args.path,
                fields=args.fields,
                watch=watch,
                dead_letter=dead,
                dry_run=args.dry_run,
                source_tag=args.source_tag,
                sync=args.sync,
                max_delete=args.max_delete,
                documents=args.documents,
            )
    if args.json:
        dump(report.as_dict())
    else:
        if report.dry_run:
            print("dry run: nothing was encoded or written")
        headers = ["read", "unchanged", "new/changed", "encoded", "metadata only", "written"]
        headers += ["failed", "deleted", "seconds", "encoded/s"]
        values = [report.read, report.unchanged, report.changed, report.encoded]
        values += [report.metadata_only, report.written, report.failed, report.deleted]
        table(
            headers,
            [[*map(str, values), f"{report.duration_s:.2f}", f"{report.encoded_per_s:.1f}"]],
        )
    status = 0
    if report.failed:
        for failure in report.failures[:5]:
            note(f"failed: {failure.where}: {failure.reason}")
        note(f"{report.failed} record(s) failed; all are in {dead}")
        status = RECORDS_FAILED
    if report.sync_skipped:  # the run logged why (vecstore.jobs.ingest), on stderr here
        status = SYNC_SKIPPED
    return status


def retrieval_options(args: argparse.Namespace) -> dict[str, Any]:
    """``vecstore query``'s retrieval options, as ``Collection.query`` takes them."""
    return {
        "search": args.search,
        "min_score": args.min_score,
        "mmr": args.mmr,
        "fetch_k": args.fetch_k,
        "rerank": args.rerank,
        "group_by": args.group_by,
    }


def cmd_query(args: argparse.Namespace) -> int:
    """Print the records most similar to a text (or ranked as --search, --mmr, --rerank say).

    With ``--queries``, every line of a file instead (:mod:`vecstore.cli.queries`).
    """
    from vecstore.cli.queries import hit_json, run_queries

    where = where_of(args)
    if args.queries is not None:
        with open_existing(args) as col:
            defaults = {"top_k": args.top_k, "where": where, **retrieval_options(args)}
            return run_queries(col, args, defaults)
    with open_existing(args) as col:
        hits = col.query(args.text, top_k=args.top_k, where=where, **retrieval_options(args))
        size = col.count() if not hits else None
    if args.json:
        dump([hit_json(h) for h in hits])
    else:
        ranked = any(h.rank_by != "dense" for h in hits)  # a second column says by what
        documents = any(h.document_id is not None for h in hits)  # and one for the document
        table(
            [
                "#",
                "score",
                *(["rank score", "by"] if ranked else []),
                *(["document", "span"] if documents else []),
                "id",
                "text",
                "metadata",
            ],
            [
                [
                    str(i),
                    f"{h.score:.4f}",
                    *([f"{h.rank_score or 0.0:.4g}", h.rank_by] if ranked else []),
                    *([h.document_id or "", _span(h.span)] if documents else []),
                    h.id,
                    short(h.text),
                    meta(h.metadata),
                ]
                for i, h in enumerate(hits, 1)
            ],
        )
    if size is not None:
        note(
            f"no hits: collection {col.name!r} holds {size} records"
            + (" matching nothing of --where" if where and size else "")
        )
    return 0


def _span(span: tuple[int, int] | None) -> str:
    return f"{span[0]}-{span[1]}" if span is not None else ""


def cmd_get(args: argparse.Namespace) -> int:
    """Print records by id; 1 if any id is not there (named on stderr)."""
    if args.document:
        return _get_documents(args)
    with open_existing(args) as col:
        records = col.get(args.ids, with_vectors=args.vectors)
    if args.json:
        dump(
            [
                {
                    "id": r.id,
                    "text": r.text,
                    "metadata": r.metadata,
                    **({"vector": r.vector.tolist()} if r.vector is not None else {}),
                }
                for r in records
            ]
        )
    else:
        table(
            ["id", "text", "metadata"], [[r.id, short(r.text), meta(r.metadata)] for r in records]
        )
    found = {r.id for r in records}
    missing = [i for i in dict.fromkeys(args.ids) if i not in found]
    if missing:
        note(f"not found in {col.name!r}: {', '.join(missing)}")
        return 1
    return 0


def cmd_delete(args: argparse.Namespace) -> None:
    """Delete records by id or filter and print how many went."""
    where = where_of(args)
    if not args.ids and where is None:
        raise InvalidInput("give ids or a non-empty --where filter to delete", field="ids")
    with open_existing(args) as col:
        before = col.count()
        col.delete(args.ids or None, where=where)
        deleted = before - col.count()
    if args.json:
        dump({"deleted": deleted})
    else:
        print(f"deleted {deleted} record(s)")


def _get_documents(args: argparse.Namespace) -> int:
    from vecstore.cli.queries import record_json

    with open_existing(args) as col:
        found = [d for d in (col.get_document(i) for i in dict.fromkeys(args.ids)) if d]
    if args.json:
        dump(
            [
                {
                    "id": d.id,
                    "text": d.text,
                    "metadata": d.metadata,
                    "chunks": [record_json(c) for c in d.chunks],
                }
                for d in found
            ]
        )
    else:
        table(
            ["id", "chunks", "characters", "text", "metadata"],
            [
                [d.id, str(len(d.chunks)), str(len(d.text)), short(d.text), meta(d.metadata)]
                for d in found
            ],
        )
    missing = [i for i in dict.fromkeys(args.ids) if i not in {d.id for d in found}]
    if missing:
        note(f"no document in {col.name!r}: {', '.join(missing)}")
        return 1
    return 0


def cmd_count(args: argparse.Namespace) -> None:
    """Print how many records match."""
    where = where_of(args)
    with open_existing(args) as col:
        n = col.count(where)
    if args.json:
        dump({"count": n})
    else:
        print(n)


def cmd_info(args: argparse.Namespace) -> None:
    """Print backend, model, dimension, count and location."""
    with open_existing(args) as col:
        info = col.describe()
    if args.json:
        dump(info)
    else:
        table(["key", "value"], [[k, str(v)] for k, v in info.items()])


def cmd_list(args: argparse.Namespace) -> None:
    """Print the collections of the configured store, with count, model and dimension."""
    from vecstore.collection import list_collections

    persistent(load_settings(args.config))
    listing = list_collections(config_file=args.config)
    store = listing.store
    rows = [
        {"name": c.name, "count": c.count, "model": c.model, "dimension": c.dimension}
        for c in listing.collections
    ]
    if args.json:
        dump({"backend": store.backend, "store": store.location, "collections": rows})
        return
    table(["name", "count", "model", "dimension"], [[str(v) for v in r.values()] for r in rows])
    note(f"{len(rows)} collection(s) in the {store.backend} store at {store.location}")


def cmd_pairs(args: argparse.Namespace) -> None:
    """Print the most similar pairs of records."""
    import sys

    from tqdm import tqdm

    where = where_of(args)
    with (
        open_existing(args) as col,
        tqdm(unit="tile", desc="pairs", disable=None, file=sys.stderr, leave=False) as bar,
    ):

        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        pairs = col.similar_pairs(args.top, threshold=args.threshold, where=where, progress=tick)
        texts = {r.id: r.text for r in col.get(sorted({p.a for p in pairs} | {p.b for p in pairs}))}
    if args.json:
        dump([{"a": p.a, "b": p.b, "score": p.score} for p in pairs])
        return
    table(
        ["#", "score", "a", "b", "text a", "text b"],
        [
            [
                str(i),
                f"{p.score:.4f}",
                p.a,
                p.b,
                short(texts.get(p.a), 40),
                short(texts.get(p.b), 40),
            ]
            for i, p in enumerate(pairs, 1)
        ],
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy the collection to another backend without re-encoding, verify, print the report."""
    import sys

    from tqdm import tqdm

    from vecstore.jobs.migrate import migrate

    settings = persistent(load_settings(args.to_config, backend=args.to_backend))
    with open_existing(args) as source:
        name = args.to_collection or source.name
        with (
            Collection(name, encoder=source.encoder, settings=settings) as target,
            tqdm(unit="rec", desc="migrate", disable=None, file=sys.stderr) as bar,
        ):
            report = migrate(source, target, progress=bar.update)
    if args.json:
        dump(report.as_dict())
    else:
        headers = ["copied", "source", "target", "sampled", "same", "max diff", "seconds", "ok"]
        values = [report.copied, report.source_count, report.target_count, report.sampled]
        values += [report.same_results]
        tail = [
            f"{report.max_score_diff:.2e}",
            f"{report.duration_s:.2f}",
            "yes" if report.ok else "NO",
        ]
        table(headers, [[*map(str, values), *tail]])
    return 0 if report.ok else 2


def cmd_upgrade(args: argparse.Namespace) -> None:
    """Write what an older vecstore left out (filter facts) into the stored records."""
    with open_existing(args) as col:
        changed = col.upgrade(batch_size=args.batch_size)
    if args.json:
        dump({"collection": col.name, "upgraded": changed})
    else:
        print(f"{col.name}: {changed} records upgraded; the collection is current")
