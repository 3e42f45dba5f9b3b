"""The review page marks a deadline that counted days of a year without holiday data
(``calendar_uncovered``), in a real headless Chromium against a real server, like tests/serving/test_pages.py."""
from __future__ import annotations

import sys
from pathlib import Path

import chinese_calendar
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_pages import CHROMEDRIVER, CHROMIUM, browser, login, running_app, text_of, wait_for  # noqa: E402,F401 - fixture

from serving.security.auth import create_key  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
LAST = max(chinese_calendar.constants.holidays).year


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("calendar-ui")) as (base, app):
        with app.state.services.sessions.begin() as session:
            ingest = create_key(session, "ingest", name="crm")[1]
            supervisor = create_key(session, "supervisor", name="王主管")[1]
        yield base, ingest, supervisor


def classify(base: str, key: str, item: dict) -> None:
    r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {key}"}, json={"items": [item]})
    assert r.status_code == 200, r.text


def test_an_approximate_deadline_is_marked(server, browser):  # noqa: F811 - the imported fixture
    from selenium.webdriver.common.by import By

    base, ingest, supervisor = server
    # P4 (5 working days) from 12-30 of the package's last year: runs into a year nobody knows.
    classify(base, ingest, {"id": "NY", "text": "转账失败 不确定", "received_at": f"{LAST}-12-30T10:00:00+08:00"})
    login(browser, base, supervisor)
    wait_for(lambda: text_of(browser, "#resolve-by"))
    mark = wait_for(lambda: browser.find_element(By.ID, "calendar-uncovered"))
    assert mark.text == "估算：节假日安排未录入" and "triage calendar import" in mark.get_attribute("title")
    assert "估算" in text_of(browser, "#resolve-by")

    # an item whose deadline is covered has no mark
    classify(base, ingest, {"id": "JUNE", "text": "转账失败 很不确定", "received_at": f"{LAST}-06-01T10:00:00+08:00"})
    login(browser, base, supervisor)  # reload: the June item is first (earlier first-response deadline)
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#resolve-by .deadline").get_attribute("title")
             .startswith(f"{LAST}-06-"))
    assert not browser.find_elements(By.ID, "calendar-uncovered")
