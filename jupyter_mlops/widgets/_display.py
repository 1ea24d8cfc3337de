"""One display bundle for every front end: the live widget plus its static summary.

The kernel cannot know whether JupyterLab, nbconvert or a terminal renders the output, so a
widget of ours carries ``text/html`` and ``text/plain`` summaries beside its widget view.
Front ends with a widget manager show the widget; the others fall back to the HTML or text.
"""

from __future__ import annotations

from typing import Any


class StaticFallback:
    """Mixin for a widget class: adds ``static_html()``/``static_text()`` to its bundle.

    Works over ipywidgets (whose ``_repr_mimebundle_`` returns a dict) and anywidget (which
    returns ``(bundle, metadata)``).
    """

    def static_html(self) -> str:
        """An escaped HTML summary of what the widget shows."""
        raise NotImplementedError

    def static_text(self) -> str:
        """A plain-text summary of what the widget shows."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        out = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        bundle, meta = out if isinstance(out, tuple) else (out or {}, None)
        bundle = {**bundle, "text/html": self.static_html(), "text/plain": self.static_text()}
        return bundle if meta is None else (bundle, meta)
