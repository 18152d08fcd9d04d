"""One delivery pipeline for campaign mail, notices and system mail: claim, compose, send."""
