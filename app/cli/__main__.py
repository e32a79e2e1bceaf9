"""``python -m app.cli``: the same as the ``docqa`` command."""

from app.cli import main

main()
