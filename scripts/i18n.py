"""Extract translatable messages and update the catalogs in src/fixflow/locale/{ru,en}.

    .venv/bin/python scripts/i18n.py update   # re-extract, merge into both catalogs (en = identity)
    .venv/bin/python scripts/i18n.py check    # list msgids without a Russian translation (exit 1)

What counts as a message:
  * templates: ``_()`` / ``gettext`` / ``ngettext`` and ``{% trans %}`` (Babel's Jinja2 extractor);
  * Python: ``_()``, ``gettext()``, ``N_()``, ``ngettext()`` calls; the first argument of every
    ``DomainError`` subclass call (found by walking the class hierarchy in the source) and those
    classes' ``title``; ``FieldProblem(field, message)``; ``collector.add(field, message)``;
    ``raise_if_any(message)``; UPPER_CASE string constants passed to any of these; the values of
    ``*_MESSAGES`` dicts; strings assigned to a variable named ``message``; the fields feature's
    ``_err(spec, reason, message)`` (capitalised, as the fields feature shows it).
The catalogs are read at runtime (fixflow.core.i18n); there is no compile step.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "fixflow"
TEMPLATES = PACKAGE / "templates"
LOCALE_DIR = PACKAGE / "locale"
LOCALES = ("ru", "en")
GETTEXT_NAMES = {"_", "gettext", "N_", "ngettext"}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}

Message = tuple[str, str, int]  # msgid, file, line


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """Names of DomainError and every class deriving from it anywhere in the package."""
    known = {"DomainError"}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in known
                    and any(_name(base) in known for base in node.bases)
                ):
                    known.add(node.name)
                    changed = True
    return known


def _class_title(stmt: ast.stmt) -> str | None:
    """``title = "..."`` (annotated or not) in a class body."""
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == "title":
        return _string(stmt.value)
    if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["title"]:
        return _string(stmt.value)
    return None


def _python_messages(path: Path, tree: ast.Module, errors: set[str]) -> Iterator[tuple[str, int]]:
    constants: dict[str, tuple[str, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            value = _string(node.value)
            if value is not None and target.isupper():
                constants[target] = (value, node.lineno)
            if value is not None and target == "message":
                yield value, node.lineno  # ``message = "..."`` handed to an error a few lines later
            if target.endswith("_MESSAGES") and isinstance(node.value, ast.Dict):
                for item in node.value.values:
                    text = _string(item)
                    if text:
                        yield text, item.lineno
        if isinstance(node, ast.ClassDef) and node.name in errors:
            for stmt in node.body:
                title = _class_title(stmt)
                if title:
                    yield title, stmt.lineno
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        args = node.args
        wanted: list[ast.expr] = []
        if name in GETTEXT_NAMES and args:
            wanted = args[:2] if name == "ngettext" else args[:1]
        elif name in errors and args:
            wanted = args[:1]
        elif (name == "FieldProblem" and len(args) >= 2) or (
            name == "add" and len(args) == 2 and _string(args[0]) is not None
        ):
            wanted = args[1:2]
        elif name == "raise_if_any" and args:
            wanted = args[:1]
        elif name == "_err" and len(args) >= 3 and "fields" in path.parts:
            text = _string(args[2])
            if text:
                yield text[:1].upper() + text[1:], node.lineno
            continue
        for arg in wanted:
            text = _string(arg)
            if text is None and isinstance(arg, ast.Name) and arg.id in constants:
                text, _line = constants[arg.id]
            if text:
                yield text, node.lineno


def extract() -> Catalog:
    catalog = Catalog(project="fixflow", msgid_bugs_address="", fuzzy=False)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(TEMPLATES),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": JINJA_OPTIONS},
        directory_filter=lambda path: "__pycache__" not in path,  # Babel skips "_partials" by default
    ):
        catalog.add(message, locations=[(f"templates/{filename}", lineno)])
    files = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), filename=str(p)) for p in files}
    errors = _error_classes(trees)
    for path, tree in trees.items():
        for text, lineno in _python_messages(path, tree, errors):
            if text.strip():
                catalog.add(text, locations=[(str(path.relative_to(PACKAGE)), lineno)])
    return catalog


def catalog_file(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def _read(locale: str) -> Catalog:
    path = catalog_file(locale)
    if not path.exists():
        return Catalog(locale=locale, project="fixflow", fuzzy=False)
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        catalog = _read(locale)
        catalog.update(template, no_fuzzy_matching=True)
        if locale == "en":
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id  # identity: English msgids are the English text
        catalog.fuzzy = False
        path = catalog_file(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fp:
            write_po(fp, catalog, ignore_obsolete=True, width=110, sort_output=False)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages")


def missing(locale: str = "ru") -> list[str]:
    """msgids found in the code that the catalog does not translate."""
    catalog = _read(locale)
    absent = []
    for message in extract():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = found.string if found is not None else None
        ok = all(strings) if isinstance(strings, tuple) else bool(strings)
        if found is None or not ok or found.fuzzy:
            absent.append(message.id if isinstance(message.id, str) else message.id[0])
    return absent


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "update"
    if command == "update":
        update()
        return 0
    if command == "check":
        absent = missing("ru")
        for msgid in absent:
            print(msgid)
        return 1 if absent else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
