"""``python -m docqa.app.server``: run the HTTP service (the same as `docqa serve`)."""

from docqa.app.server.running import main

raise SystemExit(main())
