"""Pure classification of bounces, complaints and auto-replies: no framework, `now` passed in."""

from notifier.domain.bounces.classify import MAX_REPORT_BYTES, classify
from notifier.domain.bounces.model import ACTIONABLE, Feedback, Kind, Report
from notifier.domain.bounces.score import decayed, next_score
from notifier.domain.bounces.verp import Target, TargetKind, parse_return_path

__all__ = [
    "ACTIONABLE",
    "MAX_REPORT_BYTES",
    "Feedback",
    "Kind",
    "Report",
    "Target",
    "TargetKind",
    "classify",
    "decayed",
    "next_score",
    "parse_return_path",
]
