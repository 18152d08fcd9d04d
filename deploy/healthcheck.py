"""The image's HEALTHCHECK: exit 0 when the web process in this container answers /healthz.

The image runs every process, and a HEALTHCHECK is inherited by each container made from it.
A worker, the scheduler or inbound has no web server to ask, so there the check passes instead
of marking a healthy worker unhealthy wherever the orchestrator does not turn it off (compose
does, with `healthcheck: disable`; `docker run` and podman-compose 1.0 do not).
"""

import os
import sys
import urllib.request
from pathlib import Path


def serves_web() -> bool:
    """The entry point execs the process, so PID 1 is gunicorn exactly when this is `web`."""
    try:
        return b"gunicorn" in Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell: ask the web server, the check's first purpose


if not serves_web():
    sys.exit(0)
url = f"http://127.0.0.1:{os.environ.get('PORT', '5000')}/healthz"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
