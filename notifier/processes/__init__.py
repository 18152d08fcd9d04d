"""Long-running processes: the RQ worker, the scheduler, the outbox, `notifier dev`."""
