"""``python -m docqa.app.cli``: the same as the ``docqa`` command."""

from docqa.app.cli import main

main()
