"""One ``APIRouter`` per area of the API; :func:`app.server.app.create_app` includes them."""
