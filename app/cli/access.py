"""`docqa keys create|list|revoke` and `docqa audit tail`: who may use the service, and what they did.

Keys live with the index they open (``<index>/access/keys.json``, salted scrypt hashes only); a key's
secret is printed once, by `docqa keys create`, and cannot be shown again (revoke it and create another).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import IndexOpt, JsonOpt
from docqa.app.cli.output import console, print_json


def _root(index: Path | None) -> Path:
    from docqa.config import Settings

    return Settings.from_env().override(index_dir=index).index_dir


def _audit(index: Path | None, action: str, **fields) -> None:
    from docqa.pipelines.api import AuditEvent, AuditLog

    AuditLog(_root(index)).append(AuditEvent(key="cli", action=action, **fields))


@handle_user_errors
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key, e.g. billing-app.")],
    collections: Annotated[
        str, typer.Option("--collections", help="Comma-separated collections it may use, or '*' for all.")
    ],
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")] = "read",
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once (only a salted hash is stored)."""
    from docqa.pipelines.api import KeyStore

    record, secret = KeyStore(_root(index)).create(name, collections.split(","), role)
    _audit(index, "docqa keys create", file=record.name, status="ok")
    if as_json:
        print_json({**record.public(), "key": secret})
        return
    scope = escape(", ".join(record.collections))
    console.print(f"Key [bold]{escape(record.name)}[/] ({record.role}: {scope})")
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("[dim]Shown this once: store it now. Clients send it in the X-API-Key header.[/]")


@handle_user_errors
def keys_list(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the active keys: names, roles, collections, created, last used (never the keys)."""
    from docqa.pipelines.api import KeyStore

    records = [r.public() for r in KeyStore(_root(index)).list()]
    if as_json:
        print_json(records)
        return
    if not records:
        console.print("No keys. Create one with `docqa keys create --name NAME --collections C --role read`.")
        return
    table = Table(title=f"{len(records)} keys")
    for column in ("name", "role", "collections", "created", "last used"):
        table.add_column(column)
    for r in records:
        table.add_row(escape(r["name"]), r["role"], escape(", ".join(r["collections"])), r["created"],
                      r["last_used"] or "never")
    console.print(table)


@handle_user_errors
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")], index: IndexOpt = None) -> None:
    """Revoke a key: the next request that sends it gets 401."""
    from docqa.pipelines.api import KeyStore

    KeyStore(_root(index)).revoke(name)
    _audit(index, "docqa keys revoke", file=name, status="ok")
    console.print(f"Revoked {escape(name)}.")


@handle_user_errors
def audit_tail(
    index: IndexOpt = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this key's name.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="e.g. 10m, 2h, 1d, or an ISO time.")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many of the latest lines.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The latest audit lines: time, key name, action, collection, question or file, count, status."""
    from docqa.pipelines.api import AuditLog, parse_since

    records = list(AuditLog(_root(index)).read(key=key, since=parse_since(since)))[-lines:]
    if as_json:
        print_json(records)
        return
    for r in records:
        what = r.get("question") or r.get("file") or ""
        count = f" ({r['count']})" if "count" in r else ""
        where = escape(r.get("collection") or "-")
        console.print(
            f"{r['time'][:19]} {escape(r['key'])} {escape(r['action'])} \\[{where}] {r['status']}{count} "
            f"{escape(what)}",
            highlight=False,
        )
