"""Who may reach the front ends: loopback binds, the Host and Origin checks, the API key — for the HTTP
service and the search page alike.

Why one module without FastAPI or Streamlit: `docqa serve` and `docqa ui` must refuse and allow the same
things. Without a key both are open to anything that can reach the port, which is safe on loopback only
against *people*, not against *web pages*: any site the user opens can send a no-cors form post to
``http://127.0.0.1:8000/documents`` (a cross-site write), and a site whose DNS name it re-points at 127.0.0.1
(DNS rebinding) is, for the browser, the same origin as the service. The attack probe of issue 27 did both
against the keyless loopback service. The defences here:

- **Host**: a request must name a host the front end answers to — loopback names, the address it listens
  on, and what ``DOCQA_ALLOWED_HOSTS`` / ``--allowed-host`` add. A rebinding page's requests carry its own
  name (``Host: evil.example:8000``) and are refused.
- **Origin**: a write that says where it comes from (``Origin``, else ``Referer``) must come from the front
  end's own origin or one in ``DOCQA_ALLOWED_ORIGINS`` / ``--allowed-origin``.
- **Key**: compared in constant time (:func:`key_matches`); a request carrying the right key needs neither
  check, since a web page cannot know the key and browsers never attach it by themselves (unlike cookies).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from docqa import config

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})  # "every address": no name of its own
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach. Unknown host names count as not loopback."""
    host = host.strip().lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, api_key: str | None, key_use: str) -> str | None:
    """Why a front end must not listen on ``host`` without a key (None when it may): beyond loopback,
    anyone who can reach the machine could read and change the documents. ``key_use`` says what the key
    does there (e.g. "clients send it in the X-API-Key header")."""
    if is_loopback(host) or api_key:
        return None
    return (
        f"Refusing to listen on {host} without an API key: anyone who can reach this machine could read "
        f"and change your documents. Set {config.API_KEY} ({key_use}), or listen on 127.0.0.1."
    )


def parse_list(value: str | None) -> list[str]:
    """``"a.example, b.example"`` → ``["a.example", "b.example"]`` (commas or spaces separate)."""
    return [item for item in (value or "").replace(",", " ").split() if item]


def configured_hosts(extra: Iterable[str] = ()) -> list[str]:
    """Host names the user allowed: ``extra`` (command-line flags) and ``DOCQA_ALLOWED_HOSTS``."""
    return [*(h.strip() for h in extra if h.strip()), *parse_list(config.env(config.ALLOWED_HOSTS))]


def configured_origins(extra: Iterable[str] = ()) -> list[str]:
    """Origins the user allowed: ``extra`` (command-line flags) and ``DOCQA_ALLOWED_ORIGINS``."""
    return [*(o.strip() for o in extra if o.strip()), *parse_list(config.env(config.ALLOWED_ORIGINS))]


def allowed_hosts(bound: str | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Loopback names, the address listened on (unless it is a wildcard like 0.0.0.0) and the configured
    ones, lower-cased, without brackets or duplicates."""
    names = [*LOOPBACK_HOSTS]
    if bound is not None and bound.strip() not in WILDCARD_BINDS:
        names.append(bound)
    names.extend(configured_hosts(extra))
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name.strip().strip("[]").lower().rstrip("."), None)
    return list(seen)


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """``"Example.com:8000"`` → ``("example.com", 8000)``; None for a missing or malformed Host value."""
    if not value:
        return None
    try:
        parts = urlsplit(f"//{value.strip()}")
        hostname, port = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        return None
    if not hostname or parts.username is not None or parts.password is not None or parts.path:
        return None
    return hostname.lower().rstrip("."), port


def host_allowed(value: str | None, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header names an allowed host (any port). ``*`` allows any host; ``*.example.com``
    any subdomain of it; a loopback address (127.0.0.0/8, ::1) is always allowed."""
    parsed = split_host(value)
    if parsed is None:
        return False
    hostname = parsed[0]
    if is_loopback(hostname):
        return True
    for pattern in allowed:
        if pattern in ("*", hostname) or (pattern.startswith("*.") and hostname.endswith(pattern[1:])):
            return True
    return False


def origin_of(url: str | None) -> tuple[str, str, int] | None:
    """``"https://App.example/x"`` → ``("https", "app.example", 443)``; None for ``null`` or anything that is
    not an http(s) URL with a host (a sandboxed frame, a ``file:`` page: never trusted)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not hostname:
        return None
    return scheme, hostname.lower().rstrip("."), port or DEFAULT_PORTS[scheme]


def same_origin(url: str, host_header: str | None) -> bool:
    """Whether ``url`` (an Origin or Referer) is the origin the request was sent to (its Host header).

    Host and port are compared, not the scheme: behind a TLS proxy the service sees http while the browser
    used https. A Host without a port was sent to the default port of the scheme the browser used.
    """
    origin, host = origin_of(url), split_host(host_header)
    if origin is None or host is None or origin[1] != host[0]:
        return False
    if host[1] is None:
        return origin[2] == DEFAULT_PORTS[origin[0]]
    return origin[2] == host[1]


def origin_allowed(url: str, allowed: Iterable[str]) -> bool:
    """Whether ``url`` (an Origin or Referer) is one of the configured origins."""
    origin = origin_of(url)
    return origin is not None and any(origin == origin_of(item) for item in allowed)


def configured_key() -> str | None:
    """``DOCQA_API_KEY`` (stripped), or None when unset or blank: the key both front ends require."""
    return config.env(config.API_KEY) or None


def key_matches(sent: str | None, key: str) -> bool:
    """Constant-time comparison of a key a client sent with the configured one (never logged)."""
    return sent is not None and secrets.compare_digest(sent.encode("utf-8"), key.encode("utf-8"))
