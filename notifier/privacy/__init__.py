"""Privacy requests with their legal deadlines, and the retention purge."""
