"""A Data Docs section of GX's, named in Sluice's data context (``sluice.validation.DOCS_SECTIONS``)
and imported by GX when it builds the site: only GX-running tasks import it."""

from __future__ import annotations

from typing import Any

from great_expectations.render.renderer.site_builder import DefaultSiteSectionBuilder


class _Only:
    """A store whose listing is the keys asked for that it holds (everything else is the store's)."""

    def __init__(self, store: Any, keys: list[Any]) -> None:
        self._store, self._keys = store, keys

    def list_keys(self) -> list[Any]:
        return [key for key in self._keys if self._store.has_key(key)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class NamedResultsSectionBuilder(DefaultSiteSectionBuilder):
    """GX's validations section, except that a build asked for some results renders those without
    listing the store first. GX's own lists every stored result (and parses each one's run time)
    to pick the asked ones out: with a year of results that walk took longer than the validation."""

    def build(self, resource_identifiers: list[Any] | None = None) -> None:
        if not resource_identifiers:
            super().build()
            return
        store = self.source_store
        self.source_store = _Only(store, list(resource_identifiers))
        try:
            super().build(resource_identifiers)
        finally:
            self.source_store = store
