"""The Chinese catalog: every text the pages mark for translation and every message errors.py's own
error classes send has a Chinese entry, and the committed .mo is the compiled .po."""

import inspect
import pathlib

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import errors

ROOT = pathlib.Path(__file__).resolve().parents[2]
CATALOG = ROOT / "translations" / "zh" / "LC_MESSAGES"
PAGES = ["codes", "storefront/ledger"]
METHODS = [("**/pages.py", "python"), ("**/templates/**.html", "jinja2")]


def entries(catalog) -> dict:
    return {
        m.id if isinstance(m.id, str) else m.id[0]: m.string if isinstance(m.string, str) else tuple(m.string)
        for m in catalog
        if m.id
    }


def test_every_page_text_has_a_chinese_translation():
    translated = entries(read_po((CATALOG / "messages.po").open("rb")))
    found = {
        (msgid if isinstance(msgid, str) else msgid[0])
        for folder in PAGES
        for _, _, msgid, _, _ in extract_from_dir(
            ROOT / folder, METHODS, keywords={"_": None, "_l": None, "gettext": None, "ngettext": (1, 2)}
        )
    }
    assert found, "no texts found: the extraction is misconfigured"
    missing = sorted(m for m in found if not translated.get(m))
    assert not missing, f"add these to {CATALOG / 'messages.po'} and run pybabel compile -d translations: {missing}"


def test_every_error_class_message_has_a_chinese_translation():
    translated = entries(read_po((CATALOG / "messages.po").open("rb")))
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.DomainError)]
    missing = sorted(c.message for c in classes if not translated.get(c.message))
    assert not missing, missing


def test_the_committed_mo_is_the_compiled_po():
    po = entries(read_po((CATALOG / "messages.po").open("rb")))
    mo = entries(read_mo((CATALOG / "messages.mo").open("rb")))
    assert mo == po, "run: pybabel compile -d translations"
