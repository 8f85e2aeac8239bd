"""The ``vecstore`` command line: every command and its arguments, with help and defaults.

Each command may name a check that runs before any store or model work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from vecstore import validation
from vecstore.cli import commands
from vecstore.errors import InvalidInput

Command = Callable[[argparse.Namespace], int | None]
Check = Callable[[argparse.Namespace], None]


class Parser(argparse.ArgumentParser):
    """argparse, with errors on one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line: what is wrong, and where the help is."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


class DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Each default shown once: argparse's, unless the help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return str(super()._get_help_string(action))


def check_ingest(args: argparse.Namespace) -> None:
    """The file exists and has a known type; the fields make a field map."""
    from vecstore.jobs.fields import FieldMap
    from vecstore.jobs.sources import check_path

    check_path(args.path)
    fields = [f for f in args.metadata_fields.split(",") if f] if args.metadata_fields else None
    args.fields = FieldMap.of(args.id_field or None, args.text_field, fields)
    if args.sync and not args.source_tag:
        raise InvalidInput(
            "--sync needs --source-tag naming the records this source owns", field="source_tag"
        )
    if args.max_delete is not None and not args.sync:
        raise InvalidInput("--max-delete limits --sync: give both", field="max_delete")


def check_query(args: argparse.Namespace) -> None:
    """A non-blank text, a valid top-k, filter and retrieval options (before any model loads)."""
    from vecstore.retrieval import plan

    if (args.text is None) == (args.queries is None):
        raise InvalidInput("give a query TEXT or --queries FILE (one of them)", field="query")
    if args.queries is None:
        validation.check_text(args.text, "query")
    elif args.queries != "-":
        from pathlib import Path

        if not Path(args.queries).is_file():
            raise InvalidInput(f"--queries: no such file {args.queries!r}", field="queries")
    validation.check_top_k(args.top_k)
    commands.where_of(args)
    plan(args.top_k, **commands.retrieval_options(args))


def check_where(args: argparse.Namespace) -> None:
    """A valid filter, when one is given."""
    commands.where_of(args)


def check_delete(args: argparse.Namespace) -> None:
    """Ids, or a filter."""
    if not args.ids and commands.where_of(args) is None:
        raise InvalidInput("give ids or a non-empty --where filter to delete", field="ids")


def check_pairs(args: argparse.Namespace) -> None:
    """A positive top, a threshold in [-1, 1], a valid filter."""
    from vecstore.jobs.pairs import check_threshold, check_top

    if args.top is not None:
        check_top(args.top)
    if args.threshold is not None:
        check_threshold(args.threshold)
    commands.where_of(args)


def check_upgrade(args: argparse.Namespace) -> None:
    """A batch size of at least 1."""
    if args.batch_size < 1:
        raise InvalidInput(f"batch_size must be >= 1, got {args.batch_size}", field="batch_size")


def _count(raw: str) -> int:
    """A non-negative integer argument (argparse reports the error on one line)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from vecstore import __version__

    formatter = DefaultsOnce
    common = Parser(add_help=False)
    common.add_argument(
        "--collection", help="collection name (default: VECSTORE_COLLECTION, else 'default')"
    )
    common.add_argument(
        "--config", help="TOML configuration file (default: ./vecstore.toml when it exists)"
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines on stderr as text or one JSON object each (default: the log_format "
        "setting, else text)",
    )
    parser = Parser(
        prog="vecstore",
        description="vecstore: the library's calls from a shell.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"vecstore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_: str, check: Check | None = None) -> Any:
        p = sub.add_parser(
            name, parents=[common], help=help_, description=help_, formatter_class=formatter
        )
        p.set_defaults(func=func, check=check)
        return p

    where_help = 'filter as JSON, e.g. \'{"year": {"$gte": 2020}}\''
    p = add(
        "ingest",
        commands.cmd_ingest,
        "stream a JSONL, CSV, TSV or Parquet file into the collection",
        check_ingest,
    )
    p.add_argument("path", help="the file to read (.jsonl, .ndjson, .csv, .tsv, .parquet)")
    p.add_argument("--id-field", default="id", help="field holding the id ('' derives ids)")
    p.add_argument("--text-field", default="text", help="field holding the text to encode")
    p.add_argument(
        "--metadata-fields",
        help="comma-separated fields kept as metadata (default: every other field)",
    )
    p.add_argument(
        "--dead-letter", help="JSONL file for failed records (default: <file stem>.dead.jsonl)"
    )
    p.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    p.add_argument(
        "--source-tag",
        help="tag the records with this source's name (a run without one keeps stored tags)",
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="then delete the records of --source-tag that the file no longer has (exit 3 and "
        "nothing deleted if records failed or --max-delete is exceeded)",
    )
    p.add_argument(
        "--max-delete",
        type=_count,
        metavar="N",
        help="with --sync: delete nothing if more than N records would go",
    )
    p.add_argument("--quiet", action="store_true", help="print no progress on stderr")
    p.add_argument(
        "--documents",
        action="store_true",
        help="store each text whole as a document: chunks the model reads, found by "
        "--group-by document",
    )
    p = add("query", commands.cmd_query, "the records most similar to a text", check_query)
    p.add_argument("text", nargs="?", help="the query text (or give --queries)")
    p.add_argument(
        "--queries",
        metavar="FILE",
        help="answer every line of FILE ('-': stdin), plain text or JSON with 'query' and "
        "per-query options; one JSON object per answer",
    )
    p.add_argument("--top-k", type=int, default=5, help="how many records")
    p.add_argument("--where", help=where_help)
    p.add_argument(
        "--search",
        default="dense",
        help="dense (cosine), keyword (BM25) or hybrid (the two fused); not every store ranks "
        "keywords",
    )
    p.add_argument("--min-score", type=float, help="only hits whose cosine is at least this")
    p.add_argument("--mmr", type=float, metavar="LAMBDA", help="diversify by MMR (0..1)")
    p.add_argument("--rerank", metavar="MODEL", help="a local cross-encoder (path or cached name)")
    p.add_argument(
        "--fetch-k", type=int, help="candidates for --mmr or --rerank (default max(20, 4 x top-k))"
    )
    p.add_argument(
        "--group-by", metavar="document", help="'document': the best documents, each once"
    )
    p = add("get", commands.cmd_get, "records by id (exit 1 if any is not there)")
    p.add_argument(
        "--document",
        action="store_true",
        help="the ids are documents (upsert_documents, ingest --documents): print each whole",
    )
    p.add_argument("ids", nargs="+", help="the ids")
    p.add_argument("--vectors", action="store_true", help="include vectors (with --json)")
    p = add("delete", commands.cmd_delete, "delete records by id or filter", check_delete)
    p.add_argument("ids", nargs="*", help="the ids (or give --where)")
    p.add_argument("--where", help=where_help)
    p = add("count", commands.cmd_count, "how many records (match --where)", check_where)
    p.add_argument("--where", help=where_help)
    add("info", commands.cmd_info, "backend, model, dimension, count and where it lives")
    add("list", commands.cmd_list, "the collections of the configured store")
    p = add(
        "pairs",
        commands.cmd_pairs,
        "the most similar pairs of records (near-duplicates)",
        check_pairs,
    )
    p.add_argument("--top", type=int, help="how many pairs (default 10 without --threshold)")
    p.add_argument("--threshold", type=float, help="every pair with cosine >= this")
    p.add_argument("--where", help=where_help)
    p = add("migrate", commands.cmd_migrate, "copy the collection to another backend, then verify")
    p.add_argument("--to-backend", required=True, help="numpy, qdrant, chroma or pinecone")
    p.add_argument("--to-config", help="TOML file with the target's connection keys")
    p.add_argument("--to-collection", help="target collection name (default: the same)")
    p = add(
        "upgrade",
        commands.cmd_upgrade,
        "rewrite records from an older vecstore in place (resumable)",
        check_upgrade,
    )
    p.add_argument("--batch-size", type=int, default=1000, help="records per round")
    return parser
