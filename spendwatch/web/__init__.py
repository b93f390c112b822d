"""The read-only web dashboard: `spendwatch web`, or the daemon with `[web] listen`.

An app layer on top of the spine (kernel modules never import it). Modules, one job each:

    data.py     the pages' queries: parameterised SQL on read-only connections, exact Decimal results
    auth.py     who may look: loopback without a token, or a bearer token / login cookie
    app.py      the Starlette application: routes, GET/HEAD only, security headers, templates
    serve.py    listen address policy and the uvicorn server (foreground, or a thread in the daemon)

Read-only by construction: every request opens the store read-only (the lock discipline of
`spendwatch sql`: retry a writer's lock with backoff, close at the end of the request), runs only the
queries written in data.py with user input bound as parameters, and answers GET and HEAD only.
"""

from __future__ import annotations

from .app import create_app
from .serve import ListenPolicy, WebServer, parse_listen

__all__ = ["ListenPolicy", "WebServer", "create_app", "parse_listen"]
