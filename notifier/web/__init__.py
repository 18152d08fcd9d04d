"""Thin blueprints: parse the request, call one service, map named errors to responses."""
