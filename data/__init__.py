"""Data DocQA ships, installed as the package ``docqa.data``: see :mod:`docqa.resources`."""
