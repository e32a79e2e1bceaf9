"""DocQA's HTTP service: :func:`docqa.app.server.app.create_app` builds it,
:func:`docqa.app.server.running.serve` runs it (`docqa serve`, ``python -m docqa.app.server``)."""
