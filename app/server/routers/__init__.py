"""One ``APIRouter`` per area of the API; :func:`docqa.app.server.app.create_app` includes them."""
