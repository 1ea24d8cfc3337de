"""One display bundle for every front end: the live widget plus its static summary.

The kernel cannot know whether JupyterLab, nbconvert or a terminal renders the output, so a
widget of ours carries ``text/html`` and ``text/plain`` summaries beside its widget view.
Front ends with a widget manager show the widget; the others fall back to the HTML or text.
"""

from __future__ import annotations

from typing import Any


class StaticFallback:
    """Mixin for an ipywidgets ``DOMWidget``: adds ``static_html()``/``static_text()`` to the bundle."""

    def static_html(self) -> str:
        """An escaped HTML summary of what the widget shows."""
        raise NotImplementedError

    def static_text(self) -> str:
        """A plain-text summary of what the widget shows."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if bundle is None:
            bundle = {}
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self.static_text()
        return bundle
