"""Pages of the admin lists (jobs, corpora, users): `?page=` and `?per_page=` as the API takes them
(page from 1, at most 100 a page), clamped into range rather than refused, since they come from
links and hand-edited URLs."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int
    default_per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def args(self) -> dict[str, int]:
        """The query arguments that keep this page size in a link (none for the default)."""
        return {} if self.per_page == self.default_per_page else {"per_page": self.per_page}

    def pages(self, total: int) -> int:
        return max(1, -(-total // self.per_page))


def paging(default_per_page: int) -> Paging:
    """The request's page and page size, clamped to 1..MAX_PAGE and 1..MAX_PER_PAGE."""
    page = request.args.get("page", 1, type=int) or 1
    per_page = request.args.get("per_page", default_per_page, type=int) or default_per_page
    return Paging(min(max(page, 1), MAX_PAGE), min(max(per_page, 1), MAX_PER_PAGE), default_per_page)
