"""The one place where the CLI turns errors a user can fix into a message and an exit status.

Why one place: every command can meet the same errors (a missing model, a locked or foreign index, an
unknown document, a bad file), and each must print one line — never a traceback — and exit with status
2. Errors are matched by their kind from :mod:`docqa.errors`, so a new error class needs no change here.
Every command is wrapped by :func:`handle_user_errors` (``docqa.app.cli`` registers them so; a test checks
it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import typer
from rich.markup import escape

from docqa.app.cli.output import err_console
from docqa.errors import DocQAError

USER_ERROR_EXIT = 2
# DocQAError covers every error DocQA raises for a user. ValueError: argument checks in lower layers
# that still raise the built-in (an unknown --mode or --backend); they are user errors too.
USER_ERRORS: tuple[type[BaseException], ...] = (DocQAError, ValueError)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = USER_ERROR_EXIT) -> typer.Exit:
    """Print ``error: message`` to stderr; the returned ``typer.Exit`` is for the caller to raise.

    ``soft_wrap``: the terminal wraps long lines, rich does not break them, so a path in the message
    stays one piece to copy and a one-line message is one line in a log.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def handle_user_errors(
    func: F | None = None, *, hints: Mapping[type[BaseException], str] | None = None
) -> F | Callable[[F], F]:
    """Decorate a command so that user errors print one line (plus a hint for some kinds) and exit 2.

    :param hints: error kind → a line added under the message (e.g. how to do without a missing model).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except USER_ERRORS as err:
                message = str(err)
                for kind, hint in (hints or {}).items():
                    if isinstance(err, kind):
                        message = f"{message}\n{hint}"
                        break
                raise fail(message) from None

        wrapper.handles_user_errors = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate
