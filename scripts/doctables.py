"""The documentation's tables, generated from the code's declarations when the site is built.

An MkDocs hook (``mkdocs.yml`` -> ``hooks``): a page line ``<!-- table: NAME [ARG] -->`` is
replaced by the table ``NAME`` renders, so no page copies a model limit, a quota, an option or an
error mapping by hand:

- ``models VENDOR``: each model the vendor module lists, with its API, inputs per request, text
  limit and quota, read off the vendor protocol built for that model;
- ``options`` and ``credentials``: every declared option (``ClientOptions`` and the vendor
  protocols) with its default, the vendors that take it and its help text;
- ``attributes`` and ``metrics``: what the OpenTelemetry spans and metrics record;
- ``errors VENDOR``: each error answer the vendor documents, sent through the vendor's own
  ``parse_error``, with the exception a caller gets, whether it is retried and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from cn_embeddings import _telemetry as telemetry
from cn_embeddings._exceptions import APIError, AuthenticationError, BadRequestError, RateLimitError, ServerError
from cn_embeddings._options import ClientOptions, declared
from cn_embeddings._ratecontrol import Quota
from cn_embeddings.vendors import ark, qianfan, tencent, tokenhub
from cn_embeddings.vendors._common import TextRule

__all__ = ["TABLES", "on_page_markdown", "render"]

PROTOCOLS: dict[str, Any] = {
    "tencent": (tencent.TencentProtocol, tuple(tencent.MODELS)),
    "qianfan": (qianfan.QianfanProtocol, tuple(qianfan.MODELS)),
    "ark": (ark.ArkProtocol, ark.DOCUMENTED_MODELS),
    "tokenhub": (tokenhub.TokenHubProtocol, tuple(tokenhub.MODELS)),
}
MODULES = {"tencent": tencent, "qianfan": qianfan, "ark": ark, "tokenhub": tokenhub}
MARKER = re.compile(r"^<!-- table: ([a-z]+)(?: ([a-z]+))? -->$", re.M)


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = [_row(header), _row("---" for _ in header), *(_row(r) for r in rows)]
    return "\n".join(lines)


def _text_limit(rule: TextRule | None) -> str:
    if rule is None:
        return "none documented (the request body's size)"
    parts = []
    if rule.max_chars:
        parts.append(f"{rule.max_chars:,} characters")
    if rule.max_bytes:
        parts.append(f"{rule.max_bytes:,} UTF-8 bytes")
    if rule.max_tokens:
        how = {"qwen": "counted exactly offline", "bert": "WordPiece bounds"}.get(rule.tokenizer or "", "")
        parts.append(f"{rule.max_tokens:,} tokens" + (f" ({how})" if how else ""))
    return "; ".join(parts) or "none documented"


def _quota(quota: Quota) -> str:
    if quota.requests_per_second is None and quota.tokens_per_minute is None:
        return "none documented: found at run time"
    parts = []
    if quota.requests_per_second is not None:
        parts.append(f"{quota.requests_per_second:.3g} requests/s")
    if quota.tokens_per_minute is not None:
        parts.append(f"{quota.tokens_per_minute:,} tokens/min")
    kind = "documented" if quota.exact else "a published upper bound, found at run time below it"
    return f"{', '.join(parts)} ({kind}; {quota.source})" if quota.source else f"{', '.join(parts)} ({kind})"


def models(vendor: str) -> str:
    cls, names = PROTOCOLS[vendor]
    rows = []
    for name in names:
        protocol = cls(model=name)
        rule = getattr(protocol, "text_rule", None) or getattr(MODULES[vendor], "TEXT_RULE", None)
        per_request = f"{protocol.limits.max_items}" + (
            "" if protocol.limits.documented else " (ours; none documented)"
        )
        rows.append((f"`{name}`", protocol.endpoint, per_request, _text_limit(rule), _quota(protocol.quota)))
    return _table(("model", "API", "inputs per request", "text limit", "quota"), rows)


def _default(value: Any) -> str:
    return "`{}`" if value == {} else f"`{value!r}`"


def options() -> str:
    vendors_of: dict[str, list[str]] = {}
    specs: dict[str, Any] = {}
    for vendor, (cls, _) in PROTOCOLS.items():
        for spec in declared(cls):
            vendors_of.setdefault(spec.name, []).append(vendor)
            specs.setdefault(spec.name, spec)
    rows = []
    for spec in declared(ClientOptions):
        rows.append((f"`{spec.name}`", _default(spec.default), "all", _help(spec)))
    common = {s.name for s in declared(ClientOptions)}
    for name in specs:
        if name in common:
            continue
        who = vendors_of[name]
        per_vendor = {v: next(s for s in declared(PROTOCOLS[v][0]) if s.name == name) for v in who}
        defaults = {_default(s.default) for s in per_vendor.values()}
        helps = {_help(s) for s in per_vendor.values()}
        default = (
            defaults.pop()
            if len(defaults) == 1
            else ", ".join(f"{v}: {_default(s.default)}" for v, s in per_vendor.items())
        )
        text = helps.pop() if len(helps) == 1 else " ".join(f"{v}: {_help(s)}" for v, s in per_vendor.items())
        rows.append((f"`{name}`", default, "all" if len(who) == len(PROTOCOLS) else ", ".join(who), text))
    return _table(("option", "default", "vendors", "what it does"), rows)


def _help(spec: Any) -> str:
    text = spec.help
    if spec.aliases:
        text += " Also accepted as " + ", ".join(f"`{a}`" for a in spec.aliases) + "."
    if not spec.cli:
        text += " Not a command-line flag."
    return text


def credentials() -> str:
    rows = []
    for vendor, module in MODULES.items():
        for cred in module.CREDENTIALS:
            aliases = ", ".join(f"`{a}`" for a in cred.aliases) or "—"
            rows.append((vendor, f"`{cred.name}`", f"`{cred.env}`", aliases, "yes" if cred.required else "no"))
    return _table(("vendor", "keyword", "environment variable", "aliases", "required"), rows)


def _error_of(vendor: str, status: int, code: str) -> APIError:
    message = f"documented code {code}"
    if vendor == "tencent":
        return tencent.parse_error({"Error": {"Code": code, "Message": message}, "RequestId": "r"})
    response = httpx.Response(status, json={"error": {"code": code, "message": message, "type": "t"}, "id": "r"})
    parse: Callable[[httpx.Response], APIError] = {"qianfan": qianfan.parse_error, "ark": ark.parse_error}[vendor]
    return parse(response)


def what_to_do(error: APIError) -> str:
    """The advice for one typed error: the same words for every vendor's code of that kind."""
    if error.hint:
        return f"{error.hint[0].upper()}{error.hint[1:]}."
    if isinstance(error, AuthenticationError):
        return "Check the credentials and the account's permissions in the vendor's console."
    if isinstance(error, RateLimitError):
        if not error.retryable:
            return "A quota or spending limit is used up: raise it in the vendor's console."
        return {
            "overload": "Nothing: the vendor is busy; every sender pauses, the rate is not lowered.",
            "in_flight": "Nothing: the controller lowers the requests in flight.",
            "tokens": "Nothing: the controller lowers its token rate; set `tokens_per_minute` to your quota.",
        }.get(error.limit, "Nothing: the controller lowers its rate; set `requests_per_second` to your quota.")
    if isinstance(error, ServerError):
        return "Nothing: retried with backoff; if it lasts, give the vendor the request id."
    if isinstance(error, BadRequestError):
        return "Fix the request or the model name: the message names what was refused."
    return "See the message."


def errors(vendor: str) -> str:
    rows = []
    for status, code in MODULES[vendor].DOCUMENTED_ERRORS:
        error = _error_of(vendor, status, code)
        kind = type(error).__name__
        if isinstance(error, RateLimitError) and error.retryable:
            kind += f" ({error.limit.replace('_', ' ')})"
        rows.append((f"`{code}`", status, f"`{kind}`", "yes" if error.retryable else "no", what_to_do(error)))
    return _table(("code", "HTTP status", "raised as", "retried", "what to do"), rows)


def attributes() -> str:
    """Every span and metric attribute the client records, where, and what it holds."""
    return _table(
        ["attribute", "on", "holds"], ((f"`{n}`", *w.split(": ", 1)) for n, w in telemetry.ATTRIBUTES.items())
    )


def metrics() -> str:
    """Every metric the client records."""
    return _table(
        ["metric", "instrument", "unit", "what"],
        ((f"`{n}`", kind, f"`{unit}`", what) for n, (kind, unit, what) in telemetry.METRICS.items()),
    )


TABLES: dict[str, Callable[..., str]] = {
    "models": models,
    "options": options,
    "credentials": credentials,
    "errors": errors,
    "attributes": attributes,
    "metrics": metrics,
}


def render(markdown: str) -> str:
    """Replace every table marker in ``markdown`` with its table."""
    return MARKER.sub(lambda m: TABLES[m.group(1)](*(a for a in m.groups()[1:] if a)), markdown)


# Source tags written side by side ("[DOC][SDK]") would read as Markdown reference links.
_TAGS = re.compile(r"\]\[(?=(?:DOC|SDK|SEED|INF|3P)\b)")


def on_page_markdown(markdown: str, **_: object) -> str:
    """The MkDocs hook: the generated tables, and the wire reference's source tags kept as text."""
    return _TAGS.sub(r"]\\[", render(markdown))
