"""Helpers of the hosted-pages tests: read a rendered page the way a browser would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx


@dataclass
class Tag:
    name: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    tags: list[Tag] = field(default_factory=list)
    _open: list[Tag] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Tag(tag, {k: v or "" for k, v in attrs})
        self.tags.append(node)
        if tag not in ("input", "img", "link", "meta", "br", "path"):
            self._open.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].name == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for node in self._open:
            node.text += data

    def all(self, name: str) -> list[Tag]:
        return [t for t in self.tags if t.name == name]

    def by_id(self, ident: str) -> Tag:
        found = [t for t in self.tags if t.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.by_id("mfa-data").text)
        return loaded

    def return_fields(self) -> dict[str, str]:
        form = self.by_id("mfa-return")
        start = self.tags.index(form)
        fields = {}
        for tag in self.tags[start + 1 :]:
            if tag.name == "form":
                break
            if tag.name == "input" and "disabled" not in tag.attrs:
                fields[tag.attrs["name"]] = tag.attrs.get("value", "")
        return fields


def parse(response: httpx.Response) -> Page:
    page = Page()
    page.feed(response.text)
    page.close()
    return page
