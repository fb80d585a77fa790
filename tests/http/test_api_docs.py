"""The API docs page, served from this process, and the OpenAPI document's examples."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from mfa import MFAService, create_app
from mfa.http import backend, guardian, phone
from mfa.http.examples import BODIES

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("prefix", ["", "/mfa"])
async def test_docs_page_and_its_files_load_from_the_service(
    service: MFAService, prefix: str
) -> None:
    app = create_app(service=service)
    host = Starlette(routes=[Mount(prefix, app=app)]) if prefix else app
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host), base_url="http://h.test"
    ) as http:
        page_url = f"http://h.test{prefix}/api/docs"
        page = await http.get(page_url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "://" not in page.text  # every URL relative: nothing from outside
        links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert links == ["docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/init.js"]
        for link in links:
            r = await http.get(urljoin(page_url, link))
            assert r.status_code == 200 and len(r.content) > 30, link
        init = (await http.get(urljoin(page_url, "docs/init.js"))).text
        assert "validatorUrl: null" in init
        spec = await http.get(urljoin(page_url, re.search(r'url: "([^"]+)"', init)[1]))  # type: ignore[index]
        assert spec.json()["openapi"] == "3.1.0"
        missing = await http.get(f"{prefix}/api/docs/..%2Fcore.py")
        assert missing.status_code == 404 and missing.json()["errorCode"] == "not_found"


async def test_every_route_has_a_request_example(service: MFAService) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service=service)), base_url="http://h.test"
    ) as http:
        document = (await http.get("/api/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op["x-codeSamples"][0]["source"].startswith("curl -X"), where
            for param in op.get("parameters", []):
                assert "example" in param, where
            if "requestBody" in op:
                assert "example" in op["requestBody"]["content"]["application/json"], where


def test_body_examples_pass_their_own_schema() -> None:
    endpoints = {
        ep.handler.__name__: ep
        for ep in (*guardian.ENDPOINTS, *phone.ENDPOINTS, *backend.ENDPOINTS)
    }
    for name, example in BODIES.items():
        body = endpoints[name].body
        assert body is not None, name
        body.model_validate(example)  # raises if the example would be refused
