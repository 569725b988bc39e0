"""Template helpers written in Python for speed must stay as safe as the Jinja they replace."""

from __future__ import annotations

from dataclasses import dataclass

from fixflow.core.templating import select_options
from fixflow.webapp.lookups import ObjectOption


@dataclass(frozen=True)
class Named:
    id: int
    name: str


def test_select_options_escape_mark_the_chosen_one_and_indent_the_tree() -> None:
    html = str(
        select_options(
            [ObjectOption(1, "Кафе <Ромашка>", 0), ObjectOption(12, 'Зал "A" & кухня', 1)], selected="12"
        )
    )
    assert html == (
        '<option value="1">Кафе &lt;Ромашка&gt;</option>'
        '<option value="12" selected>\u00a0\u00a0Зал &#34;A&#34; &amp; кухня</option>'
    )
    assert str(select_options([Named(3, "Новая")], selected="")) == '<option value="3">Новая</option>'
    assert str(select_options([], selected="1")) == ""
