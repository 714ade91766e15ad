import pytest

from cartum_roapp_sync.entities import PRODUCTS
from cartum_roapp_sync.transform.products import (
    build_products, language_order, pick_text, product_from_order_line, products_from_order_lines,
)

from .records import line, order, product


def problems(result, problem):
    return sorted(p["article"] for p in result.report if p["problem"] == problem)


# --- language ---------------------------------------------------------------------------

def test_language_order_is_store_language_then_ua_ru_en_then_the_rest_sorted():
    assert language_order("en", ["ua", "ru", "en", "pl", "de"]) == ["en", "ua", "ru", "de", "pl"]
    assert language_order("pl", ["en", "ru", "de"]) == ["ru", "en", "de"]
    assert language_order("uk", ["ua", "en"]) == ["ua", "en"]  # ua and uk are one language


def test_pick_text_skips_blank_texts_and_reads_plain_strings_as_the_store_language():
    assert pick_text({"ua": "  ", "ru": "Чехол"}, "ua") == ("Чехол", "ru")
    assert pick_text("Чохол", "ua") == ("Чохол", "ua")
    assert pick_text({}, "ua") == (None, None)
    assert pick_text(None, "ua") == (None, None)


def test_title_in_the_store_language_is_not_a_fallback():
    result = build_products([product("A")], language="ru", product_key="sku")
    row = result.frame.iloc[0]
    assert (row["title"], row["language"], bool(row["language_fallback"])) == ("Товар RU A", "ru", False)
    assert problems(result, "language_fallback") == []


def test_missing_store_language_falls_back_and_is_marked_and_reported():
    raw = [product("A", title={"en": "Case", "ru": "Чехол"}), product("B", title={"pl": "Etui", "de": "Hülle"})]
    result = build_products(raw, language="ua", product_key="sku")
    rows = result.frame.set_index("product_key")
    assert (rows.loc["A", "title"], rows.loc["A", "language"], rows.loc["A", "language_fallback"]) == \
        ("Чехол", "ru", True)
    assert (rows.loc["B", "title"], rows.loc["B", "language"]) == ("Hülle", "de")
    assert problems(result, "language_fallback") == ["A", "B"]


def test_product_without_any_title_is_titled_with_its_article():
    result = build_products([product("A", title={"ua": ""})], language="ua", product_key="sku")
    row = result.frame.iloc[0]
    assert (row["title"], row["language"], bool(row["language_fallback"])) == ("A", None, True)
    assert problems(result, "missing_title") == ["A"]


# --- sku mode ------------------------------------------------------------------------------

def test_sku_mode_keys_by_article_and_keeps_the_last_of_a_repeated_article():
    raw = [product("B", gtin="111"), product("A", price=10), product("A", price=12)]
    result = build_products(raw, language="ua", product_key="sku")
    assert list(result.frame.columns) == list(PRODUCTS.columns)
    assert result.frame["product_key"].tolist() == ["A", "B"]
    assert result.frame.set_index("product_key").loc["A", "price"] == 12
    assert result.article_index == {"A": "A", "B": "B"}
    assert problems(result, "duplicate_article") == ["A"]
    row = result.frame.set_index("product_key").loc["B"]
    assert (row["sku"], row["barcodes"], row["merged_articles"]) == ("B", ["111"], [])


def test_sku_mode_does_not_merge_shared_barcodes_or_report_empty_ones():
    raw = [product("A", gtin="111"), product("B", gtin="111"), product("C", gtin="")]
    result = build_products(raw, language="ua", product_key="sku")
    assert result.frame["product_key"].tolist() == ["A", "B", "C"]
    assert result.frame.set_index("article").loc["C", "barcodes"] == []
    assert result.report == []


# --- barcode mode --------------------------------------------------------------------------

def test_barcode_mode_folds_articles_sharing_a_gtin_into_the_smallest_article():
    raw = [product("SKU-3", gtin="4820000000001"), product("SKU-1", gtin="4820000000001"),
           product("SKU-2", gtin="4820000000001"), product("SKU-4", gtin="4820000000002")]
    result = build_products(raw, language="ua", product_key="barcode")
    rows = result.frame.set_index("product_key")
    assert list(rows.index) == ["4820000000001", "4820000000002"]
    kept = rows.loc["4820000000001"]
    assert (kept["article"], kept["sku"], kept["barcodes"], kept["merged_articles"]) == \
        ("SKU-1", "SKU-1", ["4820000000001"], ["SKU-2", "SKU-3"])
    assert result.article_index == {"SKU-1": "4820000000001", "SKU-2": "4820000000001",
                                    "SKU-3": "4820000000001", "SKU-4": "4820000000002"}
    assert problems(result, "duplicate_key_merged") == ["SKU-2", "SKU-3"]


def test_barcode_mode_keys_an_empty_gtin_by_article_and_reports_it():
    raw = [product("SKU-1", gtin=""), product("SKU-2", gtin="  "), product("SKU-3", gtin="4820000000001")]
    result = build_products(raw, language="ua", product_key="barcode")
    assert result.frame["product_key"].tolist() == ["4820000000001", "article:SKU-1", "article:SKU-2"]
    assert result.frame.set_index("article").loc["SKU-1", "barcodes"] == []
    assert problems(result, "empty_barcode") == ["SKU-1", "SKU-2"]
    assert result.article_index["SKU-2"] == "article:SKU-2"


def test_barcode_mode_reads_numeric_gtins_as_text():
    result = build_products([product("A", gtin=4820000000001)], language="ua", product_key="barcode")
    assert result.frame["product_key"].tolist() == ["4820000000001"]


def test_output_does_not_depend_on_input_order():
    raw = [product("C", gtin="1"), product("A", gtin="1"), product("B", gtin=""), product("D", gtin="2")]
    first = build_products(raw, language="ua", product_key="barcode")
    second = build_products(list(reversed(raw)), language="ua", product_key="barcode")
    assert first.frame.equals(second.frame)
    assert first.article_index == second.article_index


def test_product_without_article_is_skipped_and_reported():
    result = build_products([product(""), product("A")], language="ua", product_key="sku")
    assert result.frame["product_key"].tolist() == ["A"]
    assert [p["problem"] for p in result.report] == ["missing_article"]


def test_unknown_product_key_mode_is_refused():
    with pytest.raises(ValueError, match="product_key"):
        build_products([], language="ua", product_key="gtin")


def test_empty_catalogue_gives_an_empty_frame_with_the_columns():
    result = build_products([], language="ua", product_key="sku")
    assert list(result.frame.columns) == list(PRODUCTS.columns) and result.frame.empty


# --- hashes -------------------------------------------------------------------------------

def test_hash_follows_loaded_fields_only():
    def digest(**changes):
        return build_products([product("A", gtin="1", **changes)], language="ua",
                              product_key="sku").frame.iloc[0]["content_hash"]
    base = digest()
    assert digest() == base
    assert digest(price=101) != base
    assert digest(title={"ua": "Інша назва"}) != base
    assert digest(presence="Немає в наявності", quantity=0, mpn="X-1") == base


# --- order lines --------------------------------------------------------------------------

def test_product_from_order_line_in_each_mode():
    row = product_from_order_line(line("SKU-9", title="Старий чохол", price=250), product_key="barcode")
    assert set(row) == set(PRODUCTS.columns)
    assert (row["product_key"], row["article"], row["title"], row["price"], row["barcodes"]) == \
        ("article:SKU-9", "SKU-9", "Старий чохол", 250.0, [])
    assert product_from_order_line(line("SKU-9"), product_key="sku")["product_key"] == "SKU-9"
    with pytest.raises(ValueError):
        product_from_order_line({"title": "x"}, product_key="sku")


def test_products_from_order_lines_takes_only_unknown_articles_from_the_latest_order():
    orders = [order(2, lines=[line("SKU-9", title="Новий"), line("A")]),
              order(1, lines=[line("SKU-9", title="Старий")])]
    result = products_from_order_lines(orders, known_articles={"A": "A"}, product_key="sku")
    assert result.frame["product_key"].tolist() == ["SKU-9"]
    assert result.frame.iloc[0]["title"] == "Новий"
    assert result.article_index == {"SKU-9": "SKU-9"}
    assert problems(result, "not_in_catalogue") == ["SKU-9"]
