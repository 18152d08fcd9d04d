"""GNU Mailman's bounce detectors (flufl.bounce): which addresses failed, for good or for now."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

# flufl.bounce runs some forty line patterns over every body line: about 2 s per MiB of crafted
# text. Real bounces that need its heuristics are a few KiB (the largest in its corpus is 22 KiB).
MAX_SCAN_BYTES = 262_144
MAX_ADDRESSES = 20  # a bounce of one message of ours names one recipient; a list bounce a few


@dataclass(frozen=True)
class Failures:
    """Lower-cased addresses, sorted; an address both delayed and failed counts as failed."""

    temporary: tuple[str, ...] = ()
    permanent: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.temporary or self.permanent)


NONE = Failures()


def failures(message: Message, size: int, ignore: frozenset[str] = frozenset()) -> Failures:
    """Never raises; `ignore` holds the bounce's own From and To, which are not recipients."""
    if size > MAX_SCAN_BYTES:
        return NONE
    try:
        temporary, permanent = all_failures(message)
    except Exception:
        # Heuristics written for real mail, not hostile input: an IndexError in one detector
        # (seen on garbage bytes) must not turn a readable report into a crash.
        return NONE
    failed = _addresses(permanent, ignore)
    return Failures(tuple(a for a in _addresses(temporary, ignore) if a not in failed), failed)


def _addresses(found: frozenset[bytes], ignore: frozenset[str]) -> tuple[str, ...]:
    # Non-ASCII bytes were already skipped by flufl.bounce; it returns bytes for Python 2 reasons.
    decoded = {item.decode("ascii", "replace").strip().strip("<>").lower() for item in found}
    return tuple(sorted(a for a in decoded if "@" in a and a not in ignore))[:MAX_ADDRESSES]
