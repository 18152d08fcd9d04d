"""Contacts: import, sign-up, preferences, refusals and the consent ledger."""
