"""The pure rules of notifier: no Flask, SQLAlchemy, Redis or RQ; `now` is always passed in."""
