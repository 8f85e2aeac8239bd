"""The ``vecstore`` command: the library's calls from a shell.

Every command takes ``--collection NAME`` and ``--config FILE``; results print as a readable
table, or as JSON with ``--json``. Errors print as one line on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from vecstore.errors import InvalidInput, VecstoreError

TEXT_WIDTH = 70


def _json_arg(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"--where is not valid JSON: {exc}", field="where") from exc


def _dump(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _short(text: str | None, width: int = TEXT_WIDTH) -> str:
    if text is None:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _meta(meta: dict[str, Any]) -> str:
    return orjson.dumps(meta).decode() if meta else ""


def _open(args: argparse.Namespace, *, create: bool = True) -> Any:
    from vecstore.collection import open_collection

    return open_collection(args.collection, config_file=args.config, create=create)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Stream a file into the collection and print the run report; 2 if records failed."""
    from pathlib import Path

    from tqdm import tqdm

    fields = [f for f in args.metadata_fields.split(",") if f] if args.metadata_fields else None
    dead = args.dead_letter or f"{Path(args.path).stem}.dead.jsonl"
    with _open(args) as col:
        with tqdm(
            unit="rec", desc="ingest", disable=None, file=sys.stderr, total=_count_lines(args.path)
        ) as bar:
            report = col.ingest(
                args.path,
                id_field=args.id_field or None,
                text_field=args.text_field,
                metadata_fields=fields,
                progress=bar.update,
                dead_letter=dead,
                dry_run=args.dry_run,
            )
    if args.json:
        _dump(report.as_dict())
    else:
        if report.dry_run:
            print("dry run: nothing was encoded or written")
        _table(
            [
                "read",
                "unchanged",
                "new/changed",
                "encoded",
                "written",
                "failed",
                "seconds",
                "records/s",
            ],
            [
                [
                    str(report.read),
                    str(report.unchanged),
                    str(report.changed),
                    str(report.encoded),
                    str(report.written),
                    str(report.failed),
                    f"{report.duration_s:.2f}",
                    f"{report.records_per_s:.1f}",
                ]
            ],
        )
    if report.failed:
        for failure in report.failures[:5]:
            print(f"failed: {failure.where}: {failure.reason}", file=sys.stderr)
        print(f"{report.failed} record(s) failed; all are in {dead}", file=sys.stderr)
        return 2
    return 0


def _count_lines(path: str) -> int | None:
    """Records in a JSONL/CSV file, counted cheaply, so the progress bar can show an ETA."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".csv") or not p.is_file():
        return None
    with p.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return max(lines - (1 if p.suffix.lower() == ".csv" else 0), 0)


def cmd_query(args: argparse.Namespace) -> None:
    """Print the records most similar to a text."""
    where = _json_arg(args.where) if args.where else None
    with _open(args) as col:
        hits = col.query(args.text, top_k=args.top_k, where=where)
    if args.json:
        _dump(
            [{"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata} for h in hits]
        )
        return
    _table(
        ["#", "score", "id", "text", "metadata"],
        [
            [str(i), f"{h.score:.4f}", h.id, _short(h.text), _meta(h.metadata)]
            for i, h in enumerate(hits, 1)
        ],
    )


def cmd_get(args: argparse.Namespace) -> None:
    """Print records by id."""
    with _open(args) as col:
        records = col.get(args.ids, with_vectors=args.vectors)
    if args.json:
        _dump(
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
        return
    _table(["id", "text", "metadata"], [[r.id, _short(r.text), _meta(r.metadata)] for r in records])


def cmd_delete(args: argparse.Namespace) -> None:
    """Delete records by id or filter and print how many went."""
    where = _json_arg(args.where) if args.where else None
    with _open(args) as col:
        before = col.count()
        col.delete(args.ids or None, where=where)
        deleted = before - col.count()
    if args.json:
        _dump({"deleted": deleted})
    else:
        print(f"deleted {deleted} record(s)")


def cmd_count(args: argparse.Namespace) -> None:
    """Print how many records match."""
    where = _json_arg(args.where) if args.where else None
    with _open(args) as col:
        n = col.count(where)
    if args.json:
        _dump({"count": n})
    else:
        print(n)


def cmd_info(args: argparse.Namespace) -> None:
    """Print backend, model, dimension, count and location; a missing collection is an error."""
    with _open(args, create=False) as col:
        info = col.describe()
    if args.json:
        _dump(info)
    else:
        _table(["key", "value"], [[k, str(v)] for k, v in info.items()])


def cmd_pairs(args: argparse.Namespace) -> None:
    """Print the most similar pairs of records."""
    from tqdm import tqdm

    where = _json_arg(args.where) if args.where else None
    with (
        _open(args) as col,
        tqdm(unit="tile", desc="pairs", disable=None, file=sys.stderr, leave=False) as bar,
    ):

        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        pairs = col.similar_pairs(args.top, threshold=args.threshold, where=where, progress=tick)
        texts = {r.id: r.text for r in col.get(sorted({p.a for p in pairs} | {p.b for p in pairs}))}
    if args.json:
        _dump([{"a": p.a, "b": p.b, "score": p.score} for p in pairs])
        return
    _table(
        ["#", "score", "a", "b", "text a", "text b"],
        [
            [
                str(i),
                f"{p.score:.4f}",
                p.a,
                p.b,
                _short(texts.get(p.a), 40),
                _short(texts.get(p.b), 40),
            ]
            for i, p in enumerate(pairs, 1)
        ],
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy the collection to another backend without re-encoding, verify, print the report."""
    from tqdm import tqdm

    from vecstore.collection import Collection
    from vecstore.config import load_settings
    from vecstore.migrate import migrate

    with _open(args) as source:
        settings = load_settings(args.to_config, backend=args.to_backend)
        name = args.to_collection or source.name
        with Collection(name, encoder=source.encoder, settings=settings) as target:
            with tqdm(unit="rec", desc="migrate", disable=None, file=sys.stderr) as bar:
                report = migrate(source, target, progress=bar.update)
    if args.json:
        _dump(report.as_dict())
    else:
        _table(
            ["copied", "source", "target", "sampled", "same", "max diff", "seconds", "ok"],
            [
                [
                    str(report.copied),
                    str(report.source_count),
                    str(report.target_count),
                    str(report.sampled),
                    str(report.same_results),
                    f"{report.max_score_diff:.2e}",
                    f"{report.duration_s:.2f}",
                    "yes" if report.ok else "NO",
                ]
            ],
        )
    return 0 if report.ok else 2


def cmd_upgrade(args: argparse.Namespace) -> None:
    """Write what an older vecstore left out (filter facts) into the stored records."""
    with _open(args, create=False) as col:
        changed = col.upgrade(batch_size=args.batch_size)
    if args.json:
        _dump({"collection": col.name, "upgraded": changed})
    else:
        print(f"{col.name}: {changed} records upgraded; the collection is current")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--collection", help="collection name (default: VECSTORE_COLLECTION)")
    common.add_argument("--config", help="TOML configuration file (default: ./vecstore.toml)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser = argparse.ArgumentParser(prog="vecstore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int | None], help_: str) -> Any:
        p = sub.add_parser(name, parents=[common], help=help_)
        p.set_defaults(func=func)
        return p

    p = add("ingest", cmd_ingest, "stream a JSONL or CSV file into the collection")
    p.add_argument("path")
    p.add_argument("--id-field", default="id", help="field holding the id ('' derives ids)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--metadata-fields", help="comma-separated fields to keep (default: all)")
    p.add_argument("--dead-letter", help="JSONL file for failed records (default: NAME.dead.jsonl)")
    p.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    p = add("query", cmd_query, "the records most similar to a text")
    p.add_argument("text")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--where", help='filter as JSON, e.g. \'{"year": {"$gte": 2020}}\'')
    p = add("get", cmd_get, "records by id")
    p.add_argument("ids", nargs="+")
    p.add_argument("--vectors", action="store_true", help="include vectors (with --json)")
    p = add("delete", cmd_delete, "delete records by id or filter")
    p.add_argument("ids", nargs="*")
    p.add_argument("--where", help="filter as JSON")
    p = add("count", cmd_count, "how many records (match --where)")
    p.add_argument("--where", help="filter as JSON")
    p = add("pairs", cmd_pairs, "the most similar pairs of records (near-duplicates)")
    p.add_argument("--top", type=int, help="how many pairs (default 10 without --threshold)")
    p.add_argument("--threshold", type=float, help="every pair with cosine >= this")
    p.add_argument("--where", help="filter as JSON")
    p = add("migrate", cmd_migrate, "copy the collection to another backend, then verify")
    p.add_argument("--to-backend", required=True, help="numpy, qdrant, chroma or pinecone")
    p.add_argument("--to-config", help="TOML file with the target's connection keys")
    p.add_argument("--to-collection", help="target collection name (default: the same)")
    p = add("upgrade", cmd_upgrade, "rewrite records from an older vecstore in place (resumable)")
    p.add_argument("--batch-size", type=int, default=1000)
    add("info", cmd_info, "backend, model, dimension, count and path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except VecstoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
