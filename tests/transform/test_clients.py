from cartum_roapp_sync.entities import CLIENTS
from cartum_roapp_sync.transform.clients import build_clients, split_name

from .records import customer, order


def by_key(result):
    return result.frame.set_index("client_key")


def problems(result, problem):
    return sorted((p["source"], p["client_key"]) for p in result.report if p["problem"] == problem)


def test_split_name():
    assert split_name("Іван Шевченко") == ("Іван", "Шевченко")
    assert split_name("  іван   шевченко ") == ("Іван", "Шевченко")
    assert split_name("IVAN PETRENKO-KOVAL") == ("Ivan", "Petrenko-Koval")
    assert split_name("Анна Марія Коваль") == ("Анна", "Марія Коваль")
    assert split_name("McDonald") == ("McDonald", None)
    assert split_name("") == ("Buyer", None)
    assert split_name(None) == ("Buyer", None)


def test_orders_with_the_same_phone_typed_differently_are_one_client():
    orders = [order(1, phone="+380 50 123 45 67"), order(2, phone="0501234567"),
              order(3, phone="380-50-123-4567"), order(4, phone="(050) 123-45-67")]
    result = build_clients(orders, [], country="UA")
    assert list(result.frame.columns) == list(CLIENTS.columns)
    assert result.frame["client_key"].tolist() == ["phone:+380501234567"]
    client = result.frame.iloc[0]
    assert client["order_ids"] == [1, 2, 3, 4]
    assert (client["phone"], bool(client["phone_valid"])) == ("+380501234567", True)
    assert client["phone_raw"] == "(050) 123-45-67"  # from the latest order
    assert result.order_client == {1: "phone:+380501234567", 2: "phone:+380501234567",
                                   3: "phone:+380501234567", 4: "phone:+380501234567"}


def test_without_a_valid_phone_the_same_email_is_one_client():
    orders = [order(1, phone="", email="Olena@Ukr.net"), order(2, phone="12345", email="  olena@ukr.net ")]
    result = build_clients(orders, [], country="UA")
    assert result.frame["client_key"].tolist() == ["email:olena@ukr.net"]
    client = result.frame.iloc[0]
    assert (client["email"], bool(client["email_valid"]), client["phone"], bool(client["phone_valid"])) == \
        ("olena@ukr.net", True, None, False)
    assert client["phone_raw"] == "12345"
    assert problems(result, "invalid_phone") == [("order 2", "email:olena@ukr.net")]


def test_an_email_only_order_joins_the_one_phone_client_with_that_email():
    orders = [order(1, phone="0501234567", email="ivan@gmail.com"), order(2, phone="", email="IVAN@gmail.com")]
    result = build_clients(orders, [], country="UA")
    assert result.order_client == {1: "phone:+380501234567", 2: "phone:+380501234567"}


def test_an_email_shared_by_several_phones_is_ambiguous_and_stays_apart():
    orders = [order(1, phone="0501234567", email="family@gmail.com"),
              order(2, phone="0671234567", email="family@gmail.com"),
              order(3, phone="", email="family@gmail.com")]
    result = build_clients(orders, [], country="UA")
    assert result.order_client[3] == "email:family@gmail.com"
    assert problems(result, "ambiguous_email") == [("order 3", "email:family@gmail.com")]


def test_different_phones_are_different_clients_even_with_the_same_email():
    orders = [order(1, phone="0501234567", email="a@b.com"), order(2, phone="0671234567", email="a@b.com")]
    assert len(build_clients(orders, [], country="UA").frame) == 2


def test_a_guest_with_neither_phone_nor_email_is_a_client_of_its_own():
    orders = [order(7, phone="050-12", email="ivan@"), order(8, phone="", email="")]
    result = build_clients(orders, [], country="UA")
    assert result.frame["client_key"].tolist() == ["guest:7", "guest:8"]
    guest = by_key(result).loc["guest:7"]
    assert (guest["phone"], guest["phone_raw"], guest["email"], bool(guest["email_valid"])) == \
        (None, "050-12", None, False)
    assert problems(result, "invalid_email") == [("order 7", "guest:7")]
    assert problems(result, "no_contact") == [("order 7", "guest:7"), ("order 8", "guest:8")]


def test_registered_customers_without_orders_are_clients_too():
    customers = [customer(5, phone="+380 67 765 43 21"), customer(6, email="MARIA@i.ua"), customer(7)]
    result = build_clients([], customers, country="UA")
    assert result.frame["client_key"].tolist() == ["email:maria@i.ua", "phone:+380677654321", "user:7"]
    assert by_key(result).loc["user:7", "cartum_user_id"] == 7
    assert by_key(result).loc["phone:+380677654321", "order_ids"] == []
    assert result.order_client == {}


def test_an_order_of_a_registered_buyer_joins_their_profile():
    customers = [customer(5, title="Марія Коваленко", phone="0677654321", email="maria@i.ua", city="Львів",
                          address="вул. Франка, 1")]
    orders = [order(1, name="коваленко марія", phone="+38 (067) 765 43 21", email="", user={"id": 5}),
              order(2, name="Марія К.", phone="", email="", user={"id": 5})]
    result = build_clients(orders, customers, country="UA")
    assert result.frame["client_key"].tolist() == ["phone:+380677654321"]
    client = result.frame.iloc[0]
    # The profile outranks the orders: its name, e-mail and address win.
    assert (client["first_name"], client["last_name"]) == ("Марія", "Коваленко")
    assert client["address"] == "Львів, вул. Франка, 1"
    assert client["email"] == "maria@i.ua"
    assert client["cartum_user_id"] == 5
    assert client["order_ids"] == [1, 2]


def test_a_registered_buyer_with_no_contact_at_all_is_keyed_by_user_id():
    orders = [order(3, phone="", email="", user={"id": 9}), order(4, phone="", email="", user={"id": 9})]
    result = build_clients(orders, [customer(9)], country="UA")
    assert result.order_client == {3: "user:9", 4: "user:9"}
    assert len(result.frame) == 1


def test_latest_order_wins_among_orders():
    orders = [order(2, name="Іван Новий", email="new@mail.com"), order(1, name="Іван Старий", email="old@mail.com")]
    client = build_clients(orders, [], country="UA").frame.iloc[0]
    assert (client["first_name"], client["last_name"], client["email"]) == ("Іван", "Новий", "new@mail.com")
    assert client["address"] == "Київ, Відділення №1"


def test_missing_name_is_buyer():
    client = build_clients([order(1, name="")], [], country="UA").frame.iloc[0]
    assert (client["first_name"], client["last_name"]) == ("Buyer", None)


def test_result_does_not_depend_on_input_order():
    orders = [order(i, phone=p, email=e) for i, p, e in
              [(1, "0501234567", "a@b.com"), (2, "", "A@b.com"), (3, "12345", ""), (4, "+380501234567", "")]]
    customers = [customer(1, phone="0671112233"), customer(2)]
    first = build_clients(orders, customers, country="UA")
    second = build_clients(list(reversed(orders)), list(reversed(customers)), country="UA")
    assert first.frame.equals(second.frame)
    assert first.order_client == second.order_client


def test_hash_covers_loaded_fields_only():
    def digest(**changes):
        return build_clients([order(1, **changes)], [], country="UA").frame.iloc[0]["content_hash"]
    base = digest()
    assert digest() == base
    assert digest(phone="050 123 45 67") == base  # same number, other spelling
    assert digest(status=3, comment="Передзвоніть") == base
    assert digest(name="Іван Петренко") != base
    assert digest(email="ivan@gmail.com") != base
    assert digest(delivery_address="Відділення №2") != base
