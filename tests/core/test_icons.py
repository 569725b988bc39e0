"""Icons are a template global built once per (name, classes), the same markup the macro gave."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from fixflow.core.icons import PATHS, icon
from fixflow.core.templating import environment


def test_an_icon_is_its_path_in_a_decorative_svg_built_once() -> None:
    drawn = icon("back", "icon icon--sm")
    assert isinstance(drawn, Markup)
    assert drawn == (
        '<svg class="icon icon--sm" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"'
        f' focusable="false"><path d="{PATHS["back"]}"/></svg>'
    )
    assert icon("back", "icon icon--sm") is drawn
    assert 'class="x&#34;&gt;"' in icon("back", 'x">')  # classes are escaped, never markup


def test_templates_reach_it_and_an_unknown_icon_is_an_error() -> None:
    template = environment("ru").from_string('{{ icon("star") }}')
    assert template.render() == icon("star")
    with pytest.raises(KeyError):
        icon("no-such-icon")
