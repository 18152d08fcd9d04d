"""Infrastructure: settings, database and Redis connections, queues, metrics, logs."""
