"""notifier: self-hosted email marketing and notifications that send only what people agreed to."""

from notifier.app import create_app

__all__ = ["create_app"]
