"""The run history page in a real browser: Chromium logs into the demo's Airflow (after its
first sync), opens "Sync history" from Airflow's navigation, and finds there what the
state database holds: the stores table, the runs chart and table, and an order's story
found by its number. Screenshots are saved as test artefacts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cartum_roapp_sync.history import queries
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.tables import id_map

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1200)]


def test_the_history_page_from_airflows_navigation(running_demo, browser):
    from selenium.webdriver.common.by import By

    engine = get_engine(f"sqlite:///{running_demo.state_db}")
    driver = browser.driver
    browser.login_airflow(running_demo)

    # Browse → Sync history, in Airflow's own navigation
    browse = browser.wait_for(lambda d: next((e for e in d.find_elements(By.XPATH, "//button[.//*[text()='Browse'] or "
                                                                                   "normalize-space(.)='Browse']")
                                              if e.is_displayed()), None), 60, "Browse in the navigation")
    browse.click()
    entry = browser.wait_for(lambda d: next((e for e in d.find_elements(By.XPATH, "//*[normalize-space(text())="
                                                                                  "'Sync history']")
                                             if e.is_displayed()), None), 30, "Sync history in the Browse menu")
    browser.screenshot("1-navigation")
    entry.click()
    frame = browser.wait_for(lambda d: (d.find_elements(By.TAG_NAME, "iframe") or [None])[0], 60, "the embedded page")
    assert "/plugin/cartum-roapp-history" in driver.current_url
    driver.switch_to.frame(frame)
    row = browser.wait_for(lambda d: (d.find_elements(By.CSS_SELECTOR, "#stores tr[data-store='demo']") or [None])[0],
                           60, "the stores table")
    driver.switch_to.default_content()
    browser.screenshot("2-all-stores")
    driver.switch_to.frame(frame)

    # the stores table equals the state database
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    demo = queries.stores_overview(engine, only=["demo"])[0]
    assert cells[0].splitlines()[0] == "demo"
    assert cells[1] == demo["last_run"]["status"]
    assert (int(cells[5]), int(cells[6]), int(cells[7])) == (
        demo["orders_synced_today"], demo["orders_synced_week"], demo["open_quarantine"])
    assert demo["orders_synced_week"] > 0

    # one store: the chart rendered, the runs table holds the database's runs
    row.find_element(By.LINK_TEXT, "demo").click()
    chart = browser.wait_for(lambda d: (d.find_elements(By.CSS_SELECTOR, "svg#runs-chart") or [None])[0], 60,
                             "the runs chart")
    runs = queries.store_runs(engine, "demo", last=50)
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert int(chart.get_attribute("data-runs")) == len(runs) and len(bars) >= 1
    assert chart.size["width"] > 100 and chart.size["height"] > 100
    shown = [r.get_attribute("data-run") for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert shown[-len(runs):] == [r["run_id"] for r in runs][-len(shown):] and set(shown) <= {
        r["run_id"] for r in queries.store_runs(engine, "demo", last=None)}
    driver.switch_to.default_content()
    browser.screenshot("3-store")
    driver.switch_to.frame(frame)

    # an order's story, found by its Cartum number
    with engine.connect() as c:
        number, roapp_id = c.execute(select(id_map.c.source_key, id_map.c.roapp_id).where(
            id_map.c.store_id == "demo", id_map.c.entity == "orders", id_map.c.status == "synced").order_by(
            id_map.c.source_key)).first()
    driver.find_element(By.LINK_TEXT, "Find an order").click()
    box = browser.wait_for(lambda d: (d.find_elements(By.ID, "order-query") or [None])[0], 30, "the order search")
    box.send_keys(number)
    driver.find_element(By.ID, "order-search").click()
    story = browser.wait_for(lambda d: (d.find_elements(By.CSS_SELECTOR, f"section.story[data-order='{number}']")
                                        or [None])[0], 30, "the order's story")
    assert story.find_element(By.CSS_SELECTOR, ".roapp-id").text == str(roapp_id)
    told = story.text
    for said in ("read from Cartum", "created in RO App", "items added", "RO App status set to", "comment posted"):
        assert said in told
    driver.switch_to.default_content()
    shot = browser.screenshot("4-order-story")
    assert shot.exists() and shot.stat().st_size > 1000
