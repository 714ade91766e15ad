"""``stores add``: reuse, replace or create the store's Cartum connection. The decision is a
pure function of whether the connection exists, which credentials were given,
``--replace-connection`` and whether questions can be asked."""

from __future__ import annotations

import pytest

from cartum_roapp_sync.setup.commands.add import (
    CREDENTIAL_FLAGS,
    ConnectionAction,
    ConnectionDecision,
    decide_cartum_connection,
)

ALL = ("--url", "--login", "--password")


def decide(*, exists: bool, given=(), replace: bool = False, terminal: bool = False) -> ConnectionDecision:
    return decide_cartum_connection("cartum_kyiv", exists=exists, given=given, replace_connection=replace,
                                    at_terminal=terminal)


def test_the_credential_flags_in_the_order_a_missing_one_is_named():
    assert CREDENTIAL_FLAGS == ALL


# --- no such connection: create it ----------------------------------------------------------

@pytest.mark.parametrize("replace", [False, True])
def test_a_missing_connection_is_created_from_the_credentials_given(replace):
    assert decide(exists=False, given=ALL, replace=replace) == ConnectionDecision(ConnectionAction.CREATE)


def test_a_missing_connection_without_a_terminal_needs_every_credential_flag():
    assert decide(exists=False).missing == ALL
    assert decide(exists=False, given=["--login"]).missing == ("--url", "--password")
    assert decide(exists=False, given=["--password", "--url"]).missing == ("--login",)


def test_a_missing_connection_at_a_terminal_asks_for_the_credentials_instead():
    assert decide(exists=False, terminal=True) == ConnectionDecision(ConnectionAction.CREATE)
    assert decide(exists=False, given=["--url"], terminal=True) == ConnectionDecision(ConnectionAction.CREATE)


def test_a_missing_connection_is_created_even_without_an_id():
    # The id is checked (and reported) by the form; the decision does not need it.
    assert decide_cartum_connection(None, exists=False, given=ALL, replace_connection=False,
                                    at_terminal=False).action is ConnectionAction.CREATE


# --- an existing connection without credentials: reuse it -------------------------------------

def test_an_existing_connection_without_credentials_is_reused():
    assert decide(exists=True) == ConnectionDecision(ConnectionAction.REUSE)


@pytest.mark.parametrize("replace", [False, True])
def test_at_a_terminal_an_existing_connection_without_credentials_is_asked_about(replace):
    # Whether to use it is asked, whatever --replace-connection says.
    assert decide(exists=True, replace=replace, terminal=True) == ConnectionDecision(ConnectionAction.ASK)


def test_replace_connection_without_credentials_replaces_without_requiring_the_flags():
    # Nothing is required up front: the login step then reports the empty credentials.
    assert decide(exists=True, replace=True) == ConnectionDecision(ConnectionAction.REPLACE)


# --- an existing connection with credentials: replace it, only when asked to --------------------

@pytest.mark.parametrize("terminal", [False, True])
def test_credentials_with_replace_connection_replace_the_existing_connection(terminal):
    decision = decide(exists=True, given=ALL, replace=True, terminal=terminal)
    assert decision == ConnectionDecision(ConnectionAction.REPLACE)


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("given", [ALL, ("--url",), ("--password",)])
def test_credentials_without_replace_connection_are_a_problem(given, terminal):
    decision = decide(exists=True, given=given, terminal=terminal)
    assert decision.problem == ("the connection 'cartum_kyiv' already exists in Airflow: leave out --url, --login "
                                "and --password to use it, add --replace-connection to overwrite it, or choose "
                                "another --cartum-conn-id")
    # The credentials given are still checked, so that every problem is reported at once.
    assert decision.action is ConnectionAction.REPLACE


def test_some_credentials_for_an_existing_connection_need_the_others_without_a_terminal():
    assert decide(exists=True, given=["--url"], replace=True).missing == ("--login", "--password")
    assert decide(exists=True, given=["--url"]).missing == ("--login", "--password")
    assert decide(exists=True, given=["--url"], replace=True, terminal=True).missing == ()


def test_only_a_problem_decision_carries_a_problem():
    for exists in (False, True):
        for given in ((), ALL):
            for replace in (False, True):
                for terminal in (False, True):
                    decision = decide(exists=exists, given=given, replace=replace, terminal=terminal)
                    assert (decision.problem is not None) == (exists and bool(given) and not replace)


def test_only_credential_flags_are_accepted():
    with pytest.raises(ValueError, match="--name"):
        decide(exists=True, given=["--url", "--name"])
