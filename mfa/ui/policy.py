"""The hosted pages' rules on URLs and colours, with no web framework in sight.

Used twice: when a tenant admin stores the setting (:meth:`mfa.admin.Admin.
set_hosted_pages` refuses what could never be safe) and when a browser arrives
at ``/ui/`` (:func:`return_url_allowed`, the open-redirect guard). A return URL
is compared whole — scheme, host, port, path and query — after the one
normalisation browsers agree on (lower-case scheme and host, default port
dropped), so no prefix, sub-domain, user-info or dot-segment trick gets through.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mfa.errors import InvalidBody
from mfa.storage.base import HostedPages

MAX_RETURN_URLS = 20
MAX_URL_CHARS = 2000
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Only printable ASCII without the characters that change how a URL parses in a
# browser (backslash, whitespace, quotes, angle brackets).
_SAFE = re.compile(r"[!#-&(-;=?-\[\]-~]+")


def normalize_url(url: str) -> str | None:
    """The canonical form of an absolute return URL, or None when it is not one we
    would ever send a browser to: https (http only for loopback hosts, for
    development), no user-info, no fragment, no dot segments, printable ASCII."""
    if not url or len(url) > MAX_URL_CHARS or _SAFE.fullmatch(url) is None:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.fragment or "@" in parts.netloc:
        return None
    if scheme == "http" and host not in _LOOPBACK and not host.startswith("["):
        return None
    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        if host != "::1":
            return None
        host = "[::1]"
    path = parts.path or "/"
    if not path.startswith("/") or any(s in (".", "..") for s in path.split("/")):
        return None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a normalized URL (for CSP and Origin checks)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def return_url_allowed(pages: HostedPages, return_to: str) -> str | None:
    """The normalized ``return_to`` when it is exactly one of the tenant's allowed
    return URLs; None otherwise (including for every tenant that set none)."""
    wanted = normalize_url(return_to)
    if wanted is None:
        return None
    allowed = {normalize_url(u) for u in pages.allowed_return_urls}
    return wanted if wanted in allowed else None


def logo_allowed(url: str) -> bool:
    """A logo is an absolute URL as above, or a path on the service's own origin
    (``/static/logo.svg``): the CSP names its origin, and nothing else loads."""
    if url.startswith("/") and not url.startswith("//"):
        return _SAFE.fullmatch(url) is not None and len(url) <= MAX_URL_CHARS
    return normalize_url(url) is not None and "?" not in url


def check_hosted_pages(pages: HostedPages) -> HostedPages:
    """The setting with its URLs normalized, or ``invalid_body`` naming what is wrong."""
    if len(pages.allowed_return_urls) > MAX_RETURN_URLS:
        raise InvalidBody(f"At most {MAX_RETURN_URLS} allowed_return_urls.")
    urls: list[str] = []
    for url in pages.allowed_return_urls:
        normal = normalize_url(url)
        if normal is None:
            raise InvalidBody(
                "Each allowed return URL must be an absolute https URL (http only for "
                "localhost) without user-info, fragment or dot segments."
            )
        if normal not in urls:
            urls.append(normal)
    if pages.logo_url is not None and not logo_allowed(pages.logo_url):
        raise InvalidBody("logo_url must be an https URL or a path starting with '/'.")
    color = pages.primary_color
    if color is not None and _COLOR.fullmatch(color) is None:
        raise InvalidBody("primary_color must be a colour like '#1a73e8'.")
    return HostedPages(
        allowed_return_urls=tuple(urls),
        logo_url=pages.logo_url,
        primary_color=None if color is None else color.lower(),
    )
