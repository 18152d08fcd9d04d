"""Running the service: queues, dashboard, audit log, staff accounts, demo data."""
