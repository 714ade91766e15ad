"""The questions of ``stores add`` answered by a fake terminal: wrong answers are shown
with their problem and asked again; without a terminal, problems are collected instead.
Runs in-process against the sandboxes (the real terminal is in test_cli.py)."""

from __future__ import annotations

import io

import pytest

from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.setup.form import (
    StoreForm,
    parse_managers,
    parse_status_pair,
    store_id_from_name,
    suggest_status,
)
from cartum_roapp_sync.setup.prompts import Prompter, Stopped
from cartum_roapp_sync.setup.sources import CachedRoApp
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY


class Terminal:
    """Answers questions in order and records them; an exhausted list is Ctrl+D."""

    def __init__(self, answers: list[str], secrets: list[str] = ()):
        self.answers, self.secrets = list(answers), list(secrets)
        self.questions: list[str] = []
        self.screen = io.StringIO()

    def _next(self, queue: list[str], question: str) -> str:
        self.questions.append(question)
        if not queue:
            raise EOFError
        return queue.pop(0)

    def prompter(self) -> Prompter:
        return Prompter(lambda q: self._next(self.answers, q), lambda q: self._next(self.secrets, q), self.screen)

    @property
    def text(self) -> str:
        return self.screen.getvalue()


@pytest.fixture
def roapp(roapp_sandbox):
    return CachedRoApp(RoAppClient(ROAPP_KEY, roapp_sandbox.url, retry=FAST_RETRY))


def test_prompter_defaults_required_answers_and_yes_no():
    term = Terminal(["", "Lviv", "", "maybe", "y"])
    ui = term.prompter()
    assert ui.ask("Name") == "Lviv"  # asked again: an answer is required
    assert ui.ask("Days", "60") == "60"
    assert ui.confirm("Save?") is True
    assert term.questions == ["Name: ", "Name: ", "Days [60]: ", "Save? [y/N]: ", "Save? [y/N]: "]
    assert "(an answer is required)" in term.text and "(answer y or n)" in term.text
    with pytest.raises(Stopped):
        ui.ask("More")


def test_text_values():
    assert parse_managers("all") == "all" and parse_managers(" 501, 502,501 ") == [501, 502]
    with pytest.raises(ValueError, match="neither \"all\" nor a list of RO App employee ids"):
        parse_managers("Olena")
    assert parse_status_pair("5 = 203") == ("5", 203)
    with pytest.raises(ValueError, match="CARTUM_STATUS_ID=ROAPP_STATUS_ID"):
        parse_status_pair("5:203")
    assert store_id_from_name("Kyiv Shop #2 — Podil") == "kyiv_shop_2_podil"
    assert suggest_status({"id": 3, "title": {"ua": "Доставлено", "en": "Delivered"}},
                          [{"id": 207, "name": "Delivered"}]) == 207


def test_every_wrong_answer_is_shown_and_asked_again(cartum_sandbox, roapp):
    term = Terminal(
        ["x" * 70, "Lviv shop",            # name: too long, then good
         "",                               # store id: the suggestion lviv_shop
         "",                               # connection: cartum_lviv_shop
         "shop.example.com", cartum_sandbox.url, "admin@lviv.example.com",   # URL twice, an e-mail as login
         "", CARTUM_LOGIN,                 # after the failed login: same URL, the right user name
         "de", "",                         # language: not in the store, then the default ua
         "barcodex", "sku",
         "999", "101", "301",              # location: missing, then good; order type
         "506", "all", "90"],              # managers: an inactive one, then all; import days
        secrets=["wrong-secret-1", CARTUM_PASSWORD])
    form = StoreForm(term.prompter(), [], roapp)
    form.name(None)
    form.store_id(None)
    form.cartum_conn_id(None)
    cartum, url, login, password = form.cartum_login(None, None, None)
    assert cartum is not None and (url, login, password) == (cartum_sandbox.url, CARTUM_LOGIN, CARTUM_PASSWORD)
    assert form.read_store(cartum)
    form.language(None, cartum)
    form.product_key(None, cartum)
    form.location_id(None)
    form.order_type_id(None)
    form.managers(None)
    form.import_days(None)

    assert form.entry == {"name": "Lviv shop", "store_id": "lviv_shop", "cartum_conn_id": "cartum_lviv_shop",
                          "language": "ua", "product_key": "sku", "location_id": 101, "order_type_id": 301,
                          "managers": "all", "import_days": 90}
    shown = term.text
    for words in ("✗ name: is 70 characters long", "✗ url: 'shop.example.com' is not a web address",
                  "✗ login: Cartum rejected login 'admin@lviv.example.com'", "not the e-mail",
                  "✗ language: the store has no 'de' version; it has en, ru, ua",
                  "✗ product_key: 'barcodex' is not a product key",
                  "✗ location_id: RO App has no location 999",
                  "✗ managers: employee 506", "is not active in RO App",
                  "✓ logged in to", "Online store", "Online order"):
        assert words in shown, words
    assert f"Store URL, with https:// [{cartum_sandbox.url}]: " in term.questions  # asked again with the last one
    assert "wrong-secret-1" not in shown and CARTUM_PASSWORD not in shown
    assert form.problems == []


def test_statuses_are_asked_with_suggestions(cartum_sandbox, roapp):
    from cartum_roapp_sync.setup.sources import CachedCartum

    cartum = CachedCartum.connect(cartum_sandbox.url, CARTUM_LOGIN, CARTUM_PASSWORD)
    # Given: 1 and 2 by flag. Asked: 3 Delivered (suggested 207: Enter), 4 (299 does not exist, then 209), 6, 7, 8.
    term = Terminal(["", "299", "209", "206", "", "210"])
    form = StoreForm(term.prompter(), [], roapp)
    form.entry["language"] = "en"

    mapping = form.match_statuses(cartum, {"1": 201, "2": 202})

    assert mapping == {"1": 201, "2": 202, "3": 207, "4": 209, "6": 206, "7": 204, "8": 210}
    assert '  Cartum 3 "Delivered" → RO App status, id or name [207]: ' in term.questions
    assert "✗ status_map: RO App has no status 299" in term.text
    assert "RO App statuses to choose from:" in term.text and "Awaiting payment (Postponed)" in term.text


def test_without_a_terminal_problems_are_collected_not_asked(cartum_sandbox, roapp):
    form = StoreForm(None, [{"store_id": "kyiv", "name": "Kyiv", "cartum_conn_id": "cartum_kyiv"}], roapp)
    form.name("Kyiv again")
    form.store_id("kyiv")  # an entry that does not validate still owns its id
    cartum, *_ = form.cartum_login("http://shop.example.com", CARTUM_LOGIN, CARTUM_PASSWORD)
    form.location_id(999)
    form.managers([507])
    assert cartum is None
    assert [p.field for p in form.problems] == ["store_id", "url", "location_id", "managers"]
    assert "used by an entry of the Variable that does not validate" in form.problems[0].message


def test_edit_at_a_terminal_asks_every_setting_with_its_current_value(roapp):
    from cartum_roapp_sync.setup.commands.edit import _ask_edits

    entry = {"store_id": "kyiv", "name": "Kyiv", "location_id": 101, "order_type_id": 301, "language": "ua",
             "product_key": "sku", "managers": "all", "import_days": 60, "enabled": True}
    term = Terminal(["", "Kyiv", "", "", "barcode", "501,Olena Boiko", "", "n"], secrets=[""])

    changes, credentials = _ask_edits(term.prompter(), entry, "kyiv", [entry], roapp)

    assert changes == {"location_id": 102, "product_key": "barcode", "managers": [501, 502], "enabled": False}
    assert credentials == {}  # Enter keeps the password
    assert term.questions[:2] == ["Store name [Kyiv]: ", "Location, id or name [101]: "]
    assert "     102  Kyiv, Khreshchatyk 1" in term.screen.getvalue()
    assert term.questions[-1] == "New Cartum password (Enter keeps the current one): "
