"""Static files: a favicon, versioned URLs cached for a year, gzip for assets but never pages."""

from __future__ import annotations

import gzip
import re

from flask import Flask

from notifier.infra.config import ROOT


def test_the_favicon_is_served(app: Flask) -> None:
    response = app.test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.data == (ROOT / "static" / "favicon.ico").read_bytes()
    assert response.mimetype in ("image/x-icon", "image/vnd.microsoft.icon")


def test_assets_have_versioned_urls_a_long_cache_and_gzip(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    url = re.search(r'href="(/static/admin\.css\?v=[0-9a-f]{12})"', page)
    assert url, "the stylesheet URL names its version"
    response = client.get(url[1], headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert gzip.decompress(response.data) == (ROOT / "static" / "admin.css").read_bytes()
    plain = client.get("/static/admin.css")
    assert "max-age=3600" in plain.headers["Cache-Control"]
    plain.close()


def test_pages_with_tokens_are_never_compressed(app: Flask) -> None:
    response = app.test_client().get("/admin/login", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
