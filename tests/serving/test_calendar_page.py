"""The review page marks a deadline that counted days of a year without holiday data
(``calendar_uncovered``), in a real headless Chromium against a real server, like tests/serving/test_pages.py."""
from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import chinese_calendar
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeClassifier  # noqa: E402
from test_pages import CHROMEDRIVER, CHROMIUM, browser, login, text_of, wait_for  # noqa: E402,F401 - fixture

from serving.app import create_app  # noqa: E402
from serving.security.auth import create_key  # noqa: E402
from serving.settings import Settings  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
REPO = Path(__file__).resolve().parents[2]
LAST = max(chinese_calendar.constants.holidays).year


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    tmp = tmp_path_factory.mktemp("calendar-ui")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(database_url=f"sqlite:///{tmp / 'ui.db'}", log_level="WARNING", rate_limit_per_minute=0,
                        guideline_path=REPO / "data" / "LABELING.md")
    app = create_app(settings, classifier_override=FakeClassifier())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    with app.state.services.sessions.begin() as session:
        ingest = create_key(session, "ingest", name="crm")[1]
        supervisor = create_key(session, "supervisor", name="王主管")[1]
    base = f"http://127.0.0.1:{port}"
    yield base, ingest, supervisor
    srv.should_exit = True
    thread.join(10)


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
