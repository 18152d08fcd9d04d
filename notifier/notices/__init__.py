"""Transactional notices triggered over the API, and their status webhooks."""
