"""The browser harness itself: Chromium logs into the demo's Airflow and sees the store's DAG."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1200)]


def test_chromium_logs_into_the_demo_airflow_and_finds_the_dag(running_demo, browser):
    from selenium.webdriver.common.by import By

    browser.login_airflow(running_demo)
    browser.driver.get(f"{running_demo.url}/dags/cartum_roapp__demo")
    browser.wait_for(lambda d: "cartum_roapp__demo" in d.find_element(By.TAG_NAME, "body").text, 60, "the DAG page")
    shot = browser.screenshot("dag")
    assert shot.exists() and shot.stat().st_size > 1000
