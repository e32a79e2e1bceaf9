"""The page refuses to work inside another site's frame (clickjacking).

Why a script: a page can forbid framing with the ``Content-Security-Policy: frame-ancestors`` or
``X-Frame-Options`` response headers, but Streamlit serves the page and offers no way to set them. So the
page renders a zero-height component (an ``iframe`` of the same origin as the page, with scripts allowed)
whose script checks whether the DocQA page is the top window; when it is framed — another site laid it
under a decoy to steer clicks onto "Remove" or an upload — it hides the whole page, so there is nothing to
click, and says why. A framing site cannot undo that (it cannot reach into a page of another origin), and
a frame sandboxed without scripts cannot run Streamlit at all. Where the page is meant to be framed
(a portal of the same team), open it directly instead.
"""

from __future__ import annotations

import streamlit.components.v1 as components

FRAMED_MESSAGE = "DocQA cannot be used inside another page. Open it in its own tab."
_GUARD = """<script>
(function () {
  var page = window.parent;  // this component's frame is same-origin with the DocQA page
  if (page.top === page.self) return;  // the page is the top window: nothing to do
  var doc = page.document;
  doc.body.style.display = "none";
  doc.documentElement.setAttribute("data-docqa-framed", "1");
  var note = doc.createElement("p");
  note.textContent = %s;
  note.style.cssText = "font: 16px sans-serif; margin: 2em;";
  doc.documentElement.appendChild(note);
})();
</script>"""


def refuse_framing() -> None:
    """Render the guard (invisible, zero height). Call it before anything a user can click."""
    import json

    components.html(_GUARD % json.dumps(FRAMED_MESSAGE), height=0)
