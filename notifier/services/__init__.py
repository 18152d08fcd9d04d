"""Services: where transactions begin and end; blueprints, jobs and the CLI call only these."""
