"""The web UI: read-only pages for people, signed in with an API key (``pages``, ``session``)."""
