"""The ``cn-embeddings`` command line: demo, embed, rerank, check, emulator."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import typing
from typing import Any

from .._client import EmbeddingClient
from .._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CNEmbeddingsError,
    ConfigurationError,
    InvalidInputError,
)
from .._options import OptionSpec
from .._version import __version__
from ..clients import CLIENTS, options_of
from ..config import PROVIDERS
from ..rerankers import RERANKERS, rerank_options_of
from ..testing._quotas import QUOTA_KINDS

EXAMPLES = {
    "demo": "examples:\n  cn-embeddings demo            # offline emulator unless credentials are set\n"
    "  cn-embeddings demo --live     # real clouds only (needs every vendor's credentials)",
    "embed": "examples:\n  cn-embeddings embed --provider ark --model doubao-embedding-vision-251215 \\\n"
    "      --text '天很蓝' --image photos/ --output vectors.jsonl\n"
    "  cn-embeddings embed --provider qianfan --model embedding-v1 --input corpus.csv "
    "--text-column body --output vectors.parquet --rps 5 --quota-url redis://127.0.0.1:6379/0\n"
    "  cn-embeddings embed --provider qianfan --input corpus.csv --output vectors.parquet --update "
    "--cache ~/.cache/vectors.sqlite\n"
    "  (.txt: a text per line; .jsonl/.csv/.parquet rows with id, text, image, video;\n"
    "   every input is checked before anything is sent; re-running the same command resumes;\n"
    "   --update after the corpus changed pays only for changed and new texts)",
    "rerank": "examples:\n  cn-embeddings rerank --provider qianfan --query '熊猫吃什么' --input docs.jsonl --top-n 5\n"
    "  cn-embeddings rerank --provider volcengine --model doubao-seed-rerank --query q --input docs.txt\n"
    "  (documents beyond one request's limit are split into requests and ranked together)",
    "check": "examples:\n  cn-embeddings check --provider tencent\n  cn-embeddings check --provider ark --model "
    "doubao-embedding-text-240715",
    "emulator": "examples:\n  cn-embeddings emulator --port 8808\n  cn-embeddings emulator --port 8808 "
    "--latency-ms 50 --qps 10 --fail-rate 0.05\n"
    "  cn-embeddings emulator --port 8808 --usage-scale 1.3 --qps 20 --quota-kind counting\n"
    "on start it prints one export line for every vendor it serves (Tencent ES, Qianfan, Ark, TokenHub,\n"
    "Volcengine rerank): each base URL and the emulator's public test keys (TENCENTCLOUD_SECRET_ID,\n"
    "QIANFAN_API_KEY, ARK_API_KEY, TOKENHUB_API_KEY, VOLC_ACCESSKEY...), to paste into another shell",
}


def cli_options(kind: str = "embeddings") -> dict[str, OptionSpec]:
    """Every declared option that has a flag: the union over the vendors (of embeddings or of
    rerank), by name."""
    vendors, options = (RERANKERS, rerank_options_of) if kind == "rerank" else (PROVIDERS, options_of)
    return {spec.name: spec for vendor in vendors for spec in options(vendor) if spec.cli and spec.name != "model"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(annotation: Any) -> Any:
    """``int | None`` -> int, ``dict[str, str]`` -> dict: the type a flag's value converts to."""
    if annotation is Any:
        return str  # a value the flag takes as text (``--cache PATH``)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    inner = args[0] if len(args) == 1 and typing.get_origin(annotation) is not dict else annotation
    return typing.get_origin(inner) or inner


def _pair_parser(annotation: Any) -> Any:
    """'NAME: VALUE' for a ``dict[str, X]`` option, VALUE converted to X."""
    if typing.get_origin(annotation) is not dict:  # Optional[dict[...]]
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    value_type = typing.get_args(annotation)[1:2] or (str,)

    def parse(text: str) -> tuple[str, Any]:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected 'NAME: VALUE', got {text!r}")
        if value_type[0] is Any:  # a JSON value (a number, true, a list...), else the text itself
            try:
                return name.strip(), json.loads(value.strip())
            except ValueError:
                return name.strip(), value.strip()
        try:
            return name.strip(), value_type[0](value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name.strip()}: {value.strip()!r} is not a {value_type[0].__name__}"
            ) from None

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _parse_bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() == "true"


def add_option_flags(parser: argparse.ArgumentParser, kind: str = "embeddings") -> dict[str, argparse.Action]:
    """One flag per declared option, named after it (``max_retries`` -> ``--max-retries``). Every
    flag defaults to 'not given', so the declared default applies. Returns the flags by option name."""
    flags: dict[str, argparse.Action] = {}
    group = parser.add_argument_group("client options (declared defaults apply when a flag is not given)")
    for spec in cli_options(kind).values():
        names = [_flag(spec.name)] + (["--rps"] if spec.name == "requests_per_second" else [])
        help_text = f"{spec.help} (default: {spec.default!r})"
        value_type = _value_type(spec.type)
        if spec.type is bool:
            # --name and --no-name: a flag whose default is True must be able to turn it off
            action = argparse.BooleanOptionalAction
            flag = group.add_argument(*names, dest=spec.name, action=action, default=None, help=help_text)
        elif value_type is bool:
            flag = group.add_argument(*names, dest=spec.name, type=_parse_bool, metavar="{true,false}", help=help_text)
        elif value_type is typing.Literal:
            flag = group.add_argument(*names, dest=spec.name, choices=typing.get_args(spec.type), help=help_text)
        elif value_type is dict:
            flag = group.add_argument(
                *names,
                dest=spec.name,
                type=_pair_parser(spec.type),
                action="append",
                metavar="'NAME: VALUE'",
                help=help_text,
            )
        elif type(None) in typing.get_args(spec.type) and spec.default is not None:
            # None means something here (timeout=None waits forever): the flag takes the word None
            flag = group.add_argument(*names, dest=spec.name, type=_or_none(value_type), help=help_text)
        else:
            flag = group.add_argument(*names, dest=spec.name, type=value_type, help=help_text)
        flags[spec.name] = flag
    return flags


class _NoneGiven:
    """The value of a flag given as the word None (a flag left out is None itself)."""

    def __repr__(self) -> str:
        return "None"


NONE_GIVEN = _NoneGiven()


def _or_none(convert: Any) -> Any:
    def parse(text: str) -> Any:
        return NONE_GIVEN if text.strip().lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in its errors
    return parse


def options_from_args(args: argparse.Namespace, provider: str, kind: str = "embeddings") -> dict[str, Any]:
    """The flags that were given, checked against what ``provider`` declares."""
    declared = rerank_options_of(provider) if kind == "rerank" else options_of(provider)
    given = {name: getattr(args, name) for name in cli_options(kind) if getattr(args, name, None) is not None}
    allowed = {spec.name for spec in declared}
    foreign = sorted(_flag(name) for name in given if name not in allowed)
    if foreign:
        raise ConfigurationError(f"{', '.join(foreign)}: not an option of {provider}")
    for spec in declared:
        if spec.name in given and _value_type(spec.type) is dict:
            given[spec.name] = dict(given[spec.name])
        if given.get(spec.name) is NONE_GIVEN:
            given[spec.name] = None
    return given


def make_client(provider: str, model: str | None, **options: Any) -> EmbeddingClient:
    return CLIENTS[provider](model, **options)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_table, run_demo

    rows = run_demo(live=args.live, say=lambda text: print(text, flush=True))
    print(format_table(rows))
    failed = [r for r in rows if r.error]
    return 1 if failed else 0


def _interrupted(summary: Any, output: str) -> str:
    """What an interrupted job did, and what a rerun will do: the inputs answered (and paid for)
    but not written are named, so that nobody wonders whether they were lost."""
    said = f"interrupted: {summary.written} rows written, {summary.not_embedded} inputs not embedded yet"
    lost = summary.answered_not_written
    if lost:
        shown = ", ".join(repr(i) for i in lost[:10]) + (f" and {len(lost) - 10} more" if len(lost) > 10 else "")
        said += f"; {len(lost)} of them were answered (and paid for) but not written: {shown}"
    if summary.left_writing:
        said += "; the output did not finish its last write and was left as it was"
    if output == "-":
        return said + "; nothing resumes from stdout: write to a file (--output X.jsonl) to resume"
    return said + "; run the same command again to resume (rows already written are skipped)"


def cmd_embed(args: argparse.Namespace) -> int:
    from ..bulk import BulkError, Columns, Source, Summary, embed_corpus, open_sink
    from ..bulk.heap import keep_memory_flat

    keep_memory_flat()  # a long job's memory would creep up with the corpus

    if not (args.text or args.image or args.input):
        raise ConfigurationError("nothing to embed: give --text, --image or --input")
    columns = Columns(
        id=args.id_column or "id", text=args.text_column, image=args.image_column, id_required=bool(args.id_column)
    )
    source = Source(args.text or [], args.image or [], args.input or [], columns)
    sink = open_sink(args.output, rows_per_part=args.rows_per_part)  # checked before any request
    client = make_client(args.provider, args.model, **options_from_args(args, args.provider))
    summary = Summary()
    try:
        embed_corpus(  # a bar, or lines in a log
            client,
            source,
            sink,
            show_progress=True,
            summary=summary,
            update=args.update,
            delete_missing=args.delete_missing,
        )
    except BulkError as error:
        print(f"summary: {error.summary}", file=sys.stderr)
        if isinstance(error.__cause__, BrokenPipeError):  # --output - into a reader that stopped (head)
            _quiet_stdout()
            raise ConfigurationError(
                f"stdout was closed after {summary.written} rows: the rows answered since then were lost, and "
                "nothing resumes from stdout; write to a file (--output X.jsonl) to keep every row"
            ) from None
        raise
    except KeyboardInterrupt:
        print(_interrupted(summary, args.output), file=sys.stderr)
        if summary.left_writing:  # a write that never ends would hold the interpreter's exit
            sys.stderr.flush()
            os._exit(130)
        return 130
    print(f"{args.output}: {summary}", file=sys.stderr)
    return 0


def _quiet_stdout() -> None:
    """After a broken pipe, send what is left of stdout nowhere, so that Python's flush at exit does
    not print a second error (as the Python documentation on SIGPIPE advises)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def cmd_check(args: argparse.Namespace) -> int:
    options = {"max_retries": 0, **options_from_args(args, args.provider)}
    client = make_client(args.provider, args.model, **options)
    started = time.perf_counter()
    vector = client.embed_texts(["ping"])[0]
    print(
        f"ok: {args.provider} {client.protocol.model}, dimension {len(vector)}, "
        f"latency {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    return 0


def cmd_rerank(args: argparse.Namespace) -> int:
    """Rank the documents of ``--input`` for ``--query``; prints JSON Lines, best first."""
    from ..rerankers import RERANK_CLIENTS

    ids, texts = _read_documents(args.input, args.text_column, args.id_column)
    client = RERANK_CLIENTS[args.provider](args.model, **options_from_args(args, args.provider, "rerank"))
    result = client.rerank(args.query, texts, args.top_n)
    for rank, ranked in enumerate(result.results, 1):
        row = {
            "rank": rank,
            "index": ranked.index,
            "id": ids[ranked.index],
            "relevance_score": ranked.relevance_score,
            "text": texts[ranked.index],
        }
        print(json.dumps(row, ensure_ascii=False))
    requests = result.usage.requests
    print(f"{len(texts)} documents ranked in {requests} request{'' if requests == 1 else 's'}", file=sys.stderr)
    return 0


def _read_documents(path: str, text_column: str, id_column: str) -> tuple[list[Any], list[str]]:
    """(ids, texts) of an input file, read as the bulk job reads it (.txt, .jsonl, .csv, .parquet);
    a row without a text names its place."""
    from ..bulk.sources import Columns, Source

    ids: list[Any] = []
    texts: list[str] = []
    for record in Source(files=[path], columns=Columns(id=id_column, text=text_column)):
        text = record.content if isinstance(record.content, str) else record.content.get("text")
        if not isinstance(text, str):
            raise InvalidInputError(f"{record.origin}: no text in field {text_column!r}", rule="text")
        ids.append(record.id if record.id is not None else record.origin)
        texts.append(text)
    return ids, texts


def cmd_emulator(args: argparse.Namespace) -> int:
    from ..testing import Emulator, Faults

    faults = Faults(
        latency_ms=args.latency_ms,
        qps=args.qps,
        quota_kind=args.quota_kind,
        quota_window=args.quota_window,
        quota_admit=args.quota_admit,
        refuse_ms=None if args.refuse_ms < 0 else args.refuse_ms,
        latency_jitter=args.latency_jitter,
        ratelimit_headers=args.ratelimit_headers,
        usage_scale=args.usage_scale,
        rate_limit_code=args.rate_limit_code,
        server_error_rate=args.fail_rate,
        rate_limit_rate=args.rate_limit_rate,
        drop_rate=args.drop_rate,
        stall_rate=args.stall_rate,
        seed=args.seed,
    )
    emulator = Emulator(port=args.port, faults=faults)
    exports = " ".join(f"{name}={value}" for name, value in emulator.environment().items())
    print(
        f"cn-embeddings emulator (offline, fake vectors) listening on {emulator.url}\n"
        f"  every vendor it serves (Tencent ES, Qianfan, Ark, TokenHub, Volcengine rerank):\n"
        f"  export {exports}\n"
        "(these are the emulator's public test credentials, not secrets) Ctrl-C stops it.",
        flush=True,
    )
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


VERBOSE = "-v: this package's INFO lines and tracebacks; -vv: every library's debug logs too"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cn-embeddings",
        description="Embeddings and rerank from Tencent Cloud ES and TokenHub, Baidu Qianfan v2 and Volcengine Ark.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)  # so --verbose is accepted after the command too
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE)
    sub = parser.add_subparsers(dest="command", required=True)
    for build in (_demo_parser, _embed_parser, _rerank_parser, _check_parser, _emulator_parser):
        build(sub, common)
    return parser


def _demo_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``demo``: the main job end to end."""
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the main job end to end, offline unless credentials are set",
        epilog=EXAMPLES["demo"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--live", action="store_true", help="use the real clouds for every vendor")
    demo.set_defaults(func=cmd_demo)


def _embed_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``embed``: a corpus into an output, resumable."""
    embed = sub.add_parser(
        "embed",
        parents=[common],
        help="embed a corpus into JSON Lines, Parquet, LanceDB or Qdrant, resumable",
        epilog=EXAMPLES["embed"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    embed.add_argument("--provider", choices=PROVIDERS, required=True, help="the vendor")
    embed.add_argument("--model", help="the model (default: the vendor's default model)")
    embed.add_argument("--text", action="append", help="a text to embed (repeatable)")
    embed.add_argument("--image", action="append", help="an image file or folder (repeatable)")
    embed.add_argument(
        "--input", action="append", help=".txt (a text per line), .jsonl, .csv or .parquet rows (repeatable)"
    )
    embed.add_argument(
        "--id-column",
        help="the id field of .jsonl/.csv/.parquet rows, required in every file once named (default: id when "
        "present; without one, ids are content hashes)",
    )
    embed.add_argument("--text-column", default="text", help="the text field (default: text)")
    embed.add_argument("--image-column", default="image", help="the image field (default: image)")
    embed.add_argument(
        "--output",
        required=True,
        help="X.jsonl, X.parquet (a folder of part files), DIR/NAME.lance (a LanceDB table), DIR/NAME.qdrant or "
        "qdrant://HOST:PORT/NAME (a Qdrant collection), or - (JSON Lines on stdout)",
    )
    embed.add_argument(
        "--rows-per-part",
        type=_positive_int,
        default=4096,
        help="rows per Parquet part file or LanceDB write (default: 4096); rows not yet written are kept in a "
        "journal beside the output",
    )
    embed.add_argument(
        "--update",
        action="store_true",
        help="bring an existing output (Parquet, LanceDB or Qdrant) in line with an edited corpus: rows whose "
        "text or image changed are embedded again and replaced, rows whose other columns alone changed are "
        "rewritten without a request, unchanged rows cost nothing, new ids are added; resumable like any run",
    )
    embed.add_argument(
        "--delete-missing",
        action="store_true",
        help="with --update: delete the output's rows that no input names any more (default: keep them)",
    )
    add_option_flags(embed)
    embed.set_defaults(func=cmd_embed)


def _rerank_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``rerank``: documents ranked for a query."""
    rerank = sub.add_parser(
        "rerank",
        parents=[common],
        help="rank documents for a query (JSON Lines, best first)",
        epilog=EXAMPLES["rerank"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rerank.add_argument("--provider", choices=tuple(RERANKERS), required=True, help="the vendor")
    rerank.add_argument("--model", help="the rerank model (default: the vendor's default)")
    rerank.add_argument("--query", required=True, help="the query")
    rerank.add_argument("--input", required=True, help=".txt (a document per line), or .jsonl, .csv or .parquet rows")
    rerank.add_argument("--text-column", default="text", help="the text field of rows (default: text)")
    rerank.add_argument(
        "--id-column", default="id", help="the id field of rows (default: id; without one, the file and line)"
    )
    rerank.add_argument("--top-n", type=int, help="how many to print (default: all)")
    add_option_flags(rerank, "rerank")
    rerank.set_defaults(func=cmd_rerank)


def _check_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``check``: one minimal call."""
    check = sub.add_parser(
        "check",
        parents=[common],
        help="one minimal call: ok with dimension and latency, or what is wrong",
        epilog=EXAMPLES["check"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--provider", choices=PROVIDERS, required=True, help="the vendor")
    check.add_argument("--model", help="the model (default: the vendor's default model)")
    add_option_flags(check)
    check.set_defaults(func=cmd_check)


def _emulator_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``emulator``: the offline emulator."""
    emu = sub.add_parser(
        "emulator",
        parents=[common],
        help="run the offline emulator for your own tests",
        epilog=EXAMPLES["emulator"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emu.add_argument("--port", type=int, default=8808, help="the port on 127.0.0.1 (default: 8808; 0 picks a free one)")
    emu.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds added before every answer")
    emu.add_argument(
        "--qps",
        type=float,
        help="per-model quota: its limit per --quota-window (requests; tokens "
        "for --quota-kind tokens; requests at once for inflight); over it, "
        "each vendor's rate-limit answer",
    )
    emu.add_argument(
        "--quota-kind",
        default="bucket",
        choices=QUOTA_KINDS,
        help="how the quota counts: bucket, moving or fixed windows, a moving window that counts "
        "refused requests too (counting), tokens, or requests in flight (inflight)",
    )
    emu.add_argument("--quota-window", type=float, default=1.0, help="seconds the quota's limit is counted over")
    emu.add_argument(
        "--quota-admit",
        default="arrival",
        choices=("arrival", "departure"),
        help="when the quota decides: as a request arrives, or as its answer leaves",
    )
    emu.add_argument(
        "--refuse-ms",
        type=float,
        default=0.0,
        help="milliseconds before a refusal decided on arrival is answered (default 0; -1: the whole latency)",
    )
    emu.add_argument("--latency-jitter", type=float, default=0.0, help="share by which each latency is spread")
    emu.add_argument(
        "--ratelimit-headers",
        action="store_true",
        help="tell the quota in every answer's X-Ratelimit-Limit-Requests header (per minute)",
    )
    emu.add_argument(
        "--usage-scale",
        type=float,
        default=1.0,
        help="multiply the tokens every answer reports (a vendor's tokenizer: 1.3 counts a few more per text)",
    )
    emu.add_argument("--fail-rate", type=float, default=0.0, help="share of 5xx answers")
    emu.add_argument("--rate-limit-rate", type=float, default=0.0, help="share of random rate-limit answers")
    emu.add_argument(
        "--rate-limit-code",
        default="quota",
        choices=("quota", "overload"),
        help="whether those answers speak of the caller's quota or of the vendor's load",
    )
    emu.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped connections")
    emu.add_argument("--stall-rate", type=float, default=0.0, help="share of requests that never answer")
    emu.add_argument("--seed", type=int, default=0, help="seed of the random faults, so a run can be repeated")
    emu.set_defaults(func=cmd_emulator)


def _hint(error: Exception) -> str:
    from ..bulk import BulkError

    if isinstance(error, BulkError):
        cause, kept = error.__cause__, "every vector answered is in the output"
        if isinstance(cause, AuthenticationError):
            return f"hint: the credentials were rejected; fix them, then run the same command ({kept}, so it resumes)"
        if isinstance(cause, APIError) and cause.status_code == 404:
            return f"hint: check --model and the base URL, then run the same command ({kept}, so it resumes)"
        if isinstance(cause, BadRequestError):
            return f"hint: the vendor refused a request as invalid; see the message ({kept})"
        return f"hint: {kept}; run the same command again to resume"
    if isinstance(error, InvalidInputError) and error.rule in ("parquet", "csv"):
        return "hint: nothing was sent; repair or export that file again, then run the same command"
    if isinstance(error, InvalidInputError):
        return (
            "hint: nothing was sent; fix that input (or pass --long-inputs truncate or split for over-long "
            "texts) and run again"
        )
    if isinstance(error, OSError):
        return "hint: check the path, its permissions and the free disk space"
    if isinstance(error, APIError) and error.code and "Signature" in error.code and "clock" not in str(error):
        return "hint: check the SecretKey (and that it has no stray spaces)"
    if isinstance(error, APIError) and error.status_code in (401, 403):
        return f"hint: the credentials were rejected; check {_credential_variables(error.vendor)}"
    return ""


def _credential_variables(vendor: str) -> str:
    """The environment variables a vendor's credentials are read from, as its declarations name them."""
    from ..clients import VENDORS
    from ..vendors.rerank import VOLCENGINE_CREDENTIALS

    module = VENDORS.get(vendor)
    declared = module.CREDENTIALS if module is not None else VOLCENGINE_CREDENTIALS if vendor == "volcengine" else ()
    names = [c.env for c in declared] or [c.env for m in VENDORS.values() for c in m.CREDENTIALS]
    return " / ".join(names)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # -v: this package's INFO lines (where pacing starts, decreases) and tracebacks; -vv: every
    # library's DEBUG (httpx and httpcore write about 11 lines a request)
    logging.basicConfig(level=logging.DEBUG if args.verbose >= 2 else logging.WARNING, stream=sys.stderr)
    if args.verbose == 1:
        logging.getLogger("cn_embeddings").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:  # a failed call is the error line below, not a second line
        handler.addFilter(lambda record: not getattr(record, "call_failed", False))
    try:
        return int(args.func(args))
    except (CNEmbeddingsError, OSError) as error:
        if args.verbose:
            raise
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        hint = _hint(error)
        if hint:
            print(hint, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
