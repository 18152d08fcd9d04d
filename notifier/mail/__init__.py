"""The mail layer: MIME assembly, DKIM signing, SMTP transport; no Flask, SQLAlchemy or Redis."""
