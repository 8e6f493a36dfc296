"""HTTP caching of the catalog's reads: Cache-Control, ETag and If-None-Match.

CloudFront caches ``GET``/``HEAD`` of ``/api/products``, ``/api/products/<id>`` and
``/api/categories`` for as long as ``Cache-Control`` says (its managed policy
"UseOriginCacheControlHeaders-QueryStrings", keyed by the query string). Those
answers, when 200, say ``public, max-age=0, s-maxage=N``: browsers revalidate every
time, a shared cache keeps the answer N seconds (``CACHE_MAX_AGE_SECONDS``), so a
write is visible at the edge within N seconds. Every other answer (errors, writes,
health, info, the OpenAPI document) says ``no-store``.

The ETag is ``"v<version>-<hash>"``: the catalog version, and a hash of the
catalog's random stamp (``app.products.CatalogState``), the representation (media
type, APP_VERSION and a fingerprint of this code) and the request's identity (path
and query arguments). It names one answer for as long as it is current:

* the version and stamp change in the transaction of any write to ``products``, so
  an unchanged state means unchanged rows; the stamp also makes a tag unique
  across a database created again or restored to an earlier time;
* the path and the arguments select what the rows are shown as (which page, which
  product); two URLs that parse to the same arguments give the same bytes and may
  share a tag, two that do not never do;
* the code fingerprint changes with any deployment of other code, which may
  render the same rows differently.

``If-None-Match`` is therefore answered from the state alone (one single-row read),
without the list or detail query; see ``app.routes``.
"""

from __future__ import annotations

import hashlib
from operator import itemgetter
from pathlib import Path

from flask import Request, Response
from werkzeug.datastructures import ETags
from werkzeug.http import parse_etags

from app.products import CatalogState

NO_STORE = "no-store"
MEDIA_TYPE = "application/json"


def code_fingerprint() -> str:
    """A hash of this package's sources: what renders rows as JSON."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class EdgePolicy:
    """Cache-Control values and entity tags for one app."""

    def __init__(self, max_age_seconds: int, app_version: str) -> None:
        # max-age=0: a browser revalidates every time (a 304 from the edge or from
        # here). s-maxage: how long CloudFront (any shared cache) serves it as is.
        # No stale-while-revalidate: it would stretch "a write shows within
        # s-maxage" to twice that, to spare a revalidation that costs one read.
        self.cache_control = f"public, max-age=0, s-maxage={max_age_seconds}"
        self.representation = f"{MEDIA_TYPE};app={app_version};code={code_fingerprint()}"

    def etag(self, state: CatalogState, request: Request) -> str:
        """The (unquoted) entity tag of the answer to ``request`` at ``state``."""
        # The arguments as the routes read them (decoded, one list per name),
        # sorted by name only: a stable sort keeps the order of a repeated name's
        # values, which decides the value read (the first).
        args = sorted(request.args.items(multi=True), key=itemgetter(0))
        identity = repr((request.path, args))
        digest = hashlib.blake2b(digest_size=8)
        for part in (state.stamp, self.representation, identity):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return f"v{state.version}-{digest.hexdigest()}"


def if_none_match(request: Request) -> ETags | None:
    """The request's If-None-Match, None if it has none (or nothing parsable)."""
    value = request.headers.get("If-None-Match", "").strip()
    if not value:
        return None
    tags = parse_etags(value)
    return tags if tags else None


def matches(tags: ETags | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match compares weakly, so ``W/"x"`` matches ``"x"``.

    (CloudFront weakens the tag of a body it compressed itself; the browser then
    sends it back with ``W/``.) ``*`` matches any current representation: callers
    only ask once they know there is one.
    """
    return tags is not None and tags.contains_weak(etag)


def not_modified(etag: str, cache_control: str) -> Response:
    """304: no body, and the validator and freshness headers the 200 would carry."""
    resp = Response(status=304)
    del resp.headers["Content-Type"]
    resp.headers["ETag"] = f'"{etag}"'
    resp.headers["Cache-Control"] = cache_control
    return resp
