"""One GET of a health URL: None on HTTP 200, else what went wrong, in a short phrase.

Shared by the service watch (from this machine) and the lab's branch probers, so the
two describe an outage in the same words. Proxy variables are ignored: a health check
must take the network path the users take, never a proxy somebody's shell names.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.client import HTTPException


def direct_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(
    url: str, timeout: float, opener: urllib.request.OpenerDirector | None = None
) -> str | None:
    try:
        with (opener or direct_opener()).open(url, timeout=timeout) as response:
            response.read(65536)
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except urllib.error.URLError as err:
        return str(err.reason)
    except (HTTPException, OSError) as err:
        return f"{type(err).__name__}: {err}"
