"""Pages that render with no internet: GX Data Docs' CDN links rewritten to files Sluice ships.

GX's Data Docs templates load Bootstrap, jQuery, Popper, bootstrap-table, a date picker, Font
Awesome and Vega from five CDNs; where Sluice runs there is often no internet, and the pages came
out unstyled with empty index lists. ``static/vendor/`` holds the same files (byte-identical: the
Subresource Integrity hashes in GX's pages match them), and :func:`localize` points a page's links
at them as the view serves it. The files on disk stay as GX wrote them.
"""

from __future__ import annotations

import re
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"

CDN: dict[str, str] = {
    # CDN address (a file, or a folder ending in /) -> the same under static/vendor/
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap@4.3.1/",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap@4.3.1/",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/": "popper.js@1.12.9/",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/": "bootstrap-table@1.19.1/",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/": "bootstrap-table@1.19.0/",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/": "bootstrap-datepicker@1.9.0/",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/": "fontawesome-free@6.6.0/",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/": "bootstrap-dark@1.1.0/",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.29.0/vega-embed.min.js",
}
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
"""GX's logo comes from there (with the context's id in the query); every site has it in static/images."""
QUOTED_URL = re.compile(r"""(["'])(https?://[^"'\s]+)\1""")


def local_path(url: str) -> str | None:
    """The vendored file (relative to ``static/vendor``) that serves ``url``, or None."""
    for address, local in CDN.items():
        if url == address:
            return local
        if address.endswith("/") and url.startswith(address):
            path = local + url.removeprefix(address)
            return path if vendored(path) else None
    return None


def localize(html: str, prefix: str, site: str) -> str:
    """``html`` with every quoted CDN address Sluice ships the file of pointed at ``prefix``/file,
    and GX's logo at the one in the Data Docs site at ``site``. Other addresses (links to GX's web
    site, say) are left as they are."""

    def one(match: re.Match) -> str:
        quote, url = match.groups()
        if url.startswith(GX_IMAGES):
            name = url.removeprefix(GX_IMAGES).split("?")[0]
            return f"{quote}{site.rstrip('/')}/static/images/{name}{quote}"
        local = local_path(url)
        return match.group(0) if local is None else f"{quote}{prefix.rstrip('/')}/{local}{quote}"

    return QUOTED_URL.sub(one, html)


def vendored(path: str) -> Path | None:
    """The vendored file at ``path`` (relative), or None when there is none or it leaves the folder."""
    if "\x00" in path:
        return None
    root = VENDOR.resolve()
    target = (root / path).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None
