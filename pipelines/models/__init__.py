"""Readers a collection has promoted (the registry), the improve loop that makes them and its gate."""
