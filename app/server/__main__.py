"""``python -m app.server``: run the HTTP service (the same as `docqa serve`)."""

from app.server.running import main

raise SystemExit(main())
