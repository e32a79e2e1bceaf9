"""DocQA's HTTP service: :func:`app.server.app.create_app` builds it, :func:`app.server.running.serve`
runs it (`docqa serve`, ``python -m app.server``)."""
