"""Request and response models of ``/api/tenants/{t}/hosted-pages`` (backend API)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from mfa.schemas import NO_CONTROL, Body
from mfa.storage.base import HostedPages
from mfa.ui.policy import MAX_RETURN_URLS, MAX_URL_CHARS

Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS, pattern=NO_CONTROL)]


class HostedPagesBody(Body):
    """The whole setting (a PUT replaces it): fields left out go back to their defaults."""

    allowed_return_urls: Annotated[list[Url], Field(max_length=MAX_RETURN_URLS)] = []
    logo_url: Url | None = None
    primary_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None

    def record(self) -> HostedPages:
        return HostedPages(
            allowed_return_urls=tuple(self.allowed_return_urls),
            logo_url=self.logo_url,
            primary_color=self.primary_color,
        )


class HostedPagesResponse(BaseModel):
    allowed_return_urls: list[str]
    logo_url: str | None
    primary_color: str | None


def hosted_pages_view(pages: HostedPages) -> HostedPagesResponse:
    return HostedPagesResponse(
        allowed_return_urls=list(pages.allowed_return_urls),
        logo_url=pages.logo_url,
        primary_color=pages.primary_color,
    )
