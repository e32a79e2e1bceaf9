"""One base for DocQA's named options (search modes, backends, feedback verdicts).

Why a base class: every option a user types (``--mode``, ``DOCQA_READER_BACKEND``, the HTTP ``verdict``)
needs the same three things — the exact documented spelling as ``.value``, plain strings comparing equal
(``str`` subclass), and an error that names the option and lists the valid choices. Written once here, each
option only declares its members and, where it differs, its name, error kind and spelling rule.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from docqa.errors import ConfigError, DocQAError

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """A named option: subclass with members whose values are the documented spellings.

    Usage::

        class Colour(Choice):
            RED = "red"
            BLUE = "blue"

            @classmethod
            def option_name(cls) -> str:
                return "colour"

        Colour.from_str("red")    # Colour.RED; Colour.RED == "red"
        Colour.from_str("green")  # ConfigError: unknown colour 'green'; choose one of: red, blue
    """

    def __str__(self) -> str:
        return self.value

    @classmethod
    def option_name(cls) -> str:
        """What the option is called in messages (e.g. "search mode")."""
        return cls.__name__

    @classmethod
    def normalise(cls, text: str) -> str:
        """How typed text is read before matching; exact spelling by default."""
        return text

    @classmethod
    def error(cls, message: str) -> DocQAError:
        """The error for an unknown name (a :class:`ConfigError` unless the option says otherwise)."""
        return ConfigError(message)

    @classmethod
    def choices(cls) -> list[str]:
        """The names users may type, in declaration order (default first)."""
        return [member.value for member in cls]

    @classmethod
    def from_str(cls: type[C], name: str | C) -> C:
        """The member called ``name``.

        :raises DocQAError: (the kind :meth:`error` gives) naming the option and listing the choices.
        """
        if isinstance(name, cls):
            return name
        text = cls.normalise(str(name))
        for member in cls:
            if member.value == text:
                return member
        raise cls.error(f"unknown {cls.option_name()} {name!r}; choose one of: {', '.join(cls.choices())}")
