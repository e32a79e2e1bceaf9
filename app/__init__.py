"""User-facing front ends: the `docqa` CLI, the Streamlit page and the HTTP service."""
