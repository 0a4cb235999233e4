"""The dashboard's files are served without the token (they hold no data), from the package;
the data behind them still needs it."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from yarl import URL

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from tests.helpers.service import Api


async def test_the_pages_are_served_without_a_token_and_the_data_is_not(
    fleet_config: ServerConfig,
) -> None:
    async with MlaasService(replace(fleet_config, open_reads=False, provisioning=False)) as service:
        assert service.api is not None
        async with aiohttp.ClientSession(service.api.url) as anonymous:
            async with anonymous.get("/", allow_redirects=False) as home:
                assert home.status == 302 and home.headers["Location"] == "/ui/"
            async with anonymous.get("/ui/") as index:
                assert index.status == 200 and index.content_type == "text/html"
                assert '<script type="module" src="/ui/static/app.js">' in await index.text()
            for asset, kind in (("app.js", "javascript"), ("app.css", "text/css")):
                async with anonymous.get(f"/ui/static/{asset}") as served:
                    assert served.status == 200 and kind in served.content_type
            escape_path = URL("/ui/static/%2e%2e/%2e%2e/api-token", encoded=True)
            async with anonymous.get(escape_path) as escape:
                assert escape.status in (403, 404)
            for data in ("/api/mlaas/fleet", "/api/clients", "/api/event"):
                async with anonymous.get(data) as refused:
                    assert refused.status == 401, data


async def test_with_the_token_the_pages_data_answers(api: Api) -> None:
    async with api.session.get("/api/mlaas/fleet") as fleet:
        assert fleet.status == 200 and (await fleet.json())["devices"] == 0
