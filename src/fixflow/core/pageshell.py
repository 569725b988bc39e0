"""Pages rendered once per shape and filled per request (fragment caching, the way Django's
``{% cache %}`` or Rails' view caching do it, for the whole page around its changing parts).

A list page is mostly the same for everybody who sees the same tab of the same tenant: the head, the
search form with its filter options, the tab bar. Rendering that through Jinja was about two thirds of
a list page's rendering. :func:`render_shell` renders the template once per *fixed* context (every value
the template may read, all hashable, the cache key) with a marker in place of each *slot* (values that
change per request: the CSP nonce, the typed search, the list itself), splits the output at the
markers, and from then on only joins the cached parts with the request's escaped slot values.

The template receives nothing but the fixed values and the markers (with ``StrictUndefined`` reading
anything else fails), so nothing per-person can end up in a shell another person gets. A slot may only
be output as is (``{{ name }}``): a marker tested in ``{% if %}`` or passed through a filter would not
stand for its value. :func:`render_shell` refuses a first rendering where a marker came out altered.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Hashable, Mapping

from markupsafe import Markup, escape

from fixflow.core.templating import render_template

_TOKEN = secrets.token_hex(8)  # per process: no stored text can contain the markers by accident
_MARKER = re.compile(f"\x00{_TOKEN}:([a-z_]+)\x00")
_MAX_SHELLS = 512  # ≈ 10-20 KB each (a customer's object filter is most of it)
_shells: dict[Hashable, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _marker(name: str) -> Markup:
    return Markup(f"\x00{_TOKEN}:{name}\x00")  # noqa: S704 (a private marker, replaced before sending)


def render_shell(
    locale: str, template: str, fixed: Mapping[str, Hashable], slots: Mapping[str, str | Markup]
) -> str:
    """``template`` rendered with ``fixed`` and ``slots`` (text is escaped, ``Markup`` kept).

    Same output as rendering the template with both as its context, provided each slot is only ever
    output as is.
    """
    key = (locale, template, tuple(fixed.items()), tuple(slots))
    found = _shells.get(key)
    if found is None:
        html = render_template(locale, template, {**fixed, **{name: _marker(name) for name in slots}})
        pieces = _MARKER.split(html)
        found = (tuple(pieces[::2]), tuple(pieces[1::2]))
        if any(_TOKEN in text.lower() for text in found[0]):
            raise RuntimeError(f"{template}: a slot was filtered or cut, not output as is")
        if len(_shells) >= _MAX_SHELLS:
            _shells.clear()
        _shells[key] = found
    texts, names = found
    values = {name: value if isinstance(value, Markup) else escape(value) for name, value in slots.items()}
    out: list[str] = [texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        out.append(values[name])
        out.append(text)
    return "".join(out)


def clear_shells() -> None:
    """For tests that change templates or translations under a running process."""
    _shells.clear()
