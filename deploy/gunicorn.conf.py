"""gunicorn's settings for the image's `web` process (deploy/entrypoint.sh passes --config)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    """Check the settings and the profile once, in the master, before any worker boots.

    Without this every worker fails to boot with a traceback around the one line that names
    the bad setting (as `notifier worker` prints it), and gunicorn ends on "Worker failed to
    boot"; here start-up stops with that line alone, as the other processes do.
    """
    from notifier.domain.profile import ProfileError, load_profile
    from notifier.infra.config import ROOT, ConfigError, build_settings, profile_path

    instance = Path(os.environ.get("NOTIFIER_INSTANCE_PATH") or ROOT / "instance")
    try:
        load_profile(profile_path(build_settings(instance).PROFILE))
    except (ConfigError, ProfileError) as exc:
        print(f"Error: cannot start: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
