"""The pages for people (/review, /matrix) in a real headless Chromium against a real server (uvicorn).

Needs Debian's chromium and chromium-driver (.ci/run installs them); skipped, saying so, without.
"""
from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from fakes import FakeClassifier  # noqa: E402

from serving.app import create_app  # noqa: E402
from serving.auth import create_key  # noqa: E402
from serving.models import Classification  # noqa: E402
from serving.settings import Settings  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
XSS = '<img src=x onerror="document.title=\'pwned\'"> 不确定 年费'


@pytest.fixture
def server(tmp_path):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'ui.db'}", log_level="WARNING"),
                     classifier_override=FakeClassifier())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    keys = {}
    with app.state.services.sessions.begin() as session:
        for role in ("ingest", "supervisor"):
            keys[role] = create_key(session, role, name=f"ui-{role}")[1]
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {keys['ingest']}"}, json={"items": [
        {"id": "a", "text": "年费 不确定"}, {"id": "b", "text": XSS}, {"id": "c", "text": "转账失败"}]})
    assert r.status_code == 200, r.text
    yield base, keys, app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for the page"
        time.sleep(0.05)


def test_a_supervisor_corrects_and_confirms_the_queue_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, keys, app = server
    browser.get(f"{base}/review")
    assert "请输入复核密钥" in browser.find_element(By.ID, "status").text

    browser.find_element(By.ID, "key").send_keys("trk_not_a_key")
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    assert "E501" in wait_for(lambda: browser.find_element(By.ID, "status").text)

    field = browser.find_element(By.ID, "key")
    field.clear()
    field.send_keys(keys["supervisor"])
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    items = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "article.item"))
    assert len(items) == 2 and browser.find_element(By.ID, "total").text == "2"

    # Item text is shown as text: the markup in it is not executed.
    shown = [i.find_element(By.CSS_SELECTOR, ".text").text for i in items]
    assert shown == ["年费 不确定", XSS]
    assert not browser.find_elements(By.CSS_SELECTOR, "article.item img") and browser.title != "pwned"

    first = items[0]
    category = Select(first.find_element(By.CSS_SELECTOR, "select[name=category]"))
    assert category.first_selected_option.get_attribute("value") == "fees"  # the prediction, preselected
    assert "flagged" in first.find_element(By.XPATH, ".//select[@name='category']/..").get_attribute("class")
    assert first.find_element(By.CSS_SELECTOR, ".reasons").text == "复核原因：类别置信度低"
    category.select_by_value("contract_legal")
    first.find_element(By.CSS_SELECTOR, "textarea[name=note]").send_keys("合同纠纷")
    first.find_element(By.CSS_SELECTOR, "button.submit").click()
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "article.item")) == 1)
    assert "更正：category" in browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "total").text == "1"

    # Meanwhile another supervisor closes the last item through the API: the page drops it too.
    last = browser.find_element(By.CSS_SELECTOR, "article.item")
    r = httpx.post(f"{base}/v1/review/{last.get_attribute('data-id')}", headers={"X-API-Key": keys["supervisor"]})
    assert r.status_code == 200
    last.find_element(By.CSS_SELECTOR, "button.submit").click()
    wait_for(lambda: "队列已清空" in browser.find_element(By.ID, "status").text)
    assert not browser.find_elements(By.CSS_SELECTOR, "article.item")

    with app.state.services.sessions() as session:
        rows = {r.item_id: r for r in session.scalars(select(Classification))}
    assert rows["a"].reviewed_labels == {"category": "contract_legal", "category_secondary": None,
                                         "sentiment": "neutral", "urgency": "low"}
    assert rows["a"].review_note == "合同纠纷"
    assert rows["b"].reviewed_labels["category"] == rows["b"].category  # confirmed (through the API)
    assert rows["c"].reviewed_at is None  # never queued


def test_the_page_keeps_the_key_for_the_tab_only_and_needs_the_review_role(server, browser):
    from selenium.webdriver.common.by import By

    base, keys, _app = server
    browser.get(f"{base}/review")
    browser.find_element(By.ID, "key").send_keys(keys["ingest"])
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    assert "E502" in wait_for(lambda: browser.find_element(By.ID, "status").text)
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.execute_script("return sessionStorage.getItem('triage_key')") == keys["ingest"]


def test_the_matrix_page_shows_the_heatmap_for_the_filters(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, keys, _app = server
    browser.get(f"{base}/matrix")
    browser.find_element(By.ID, "key").send_keys(keys["supervisor"])
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()

    def heatmap_text() -> str:
        browser.switch_to.frame(browser.find_element(By.ID, "heatmap"))
        try:
            return browser.find_element(By.TAG_NAME, "body").text
        finally:
            browser.switch_to.default_content()

    assert "共 3 条" in wait_for(lambda: "共" in (t := heatmap_text()) and t)
    Select(browser.find_element(By.CSS_SELECTOR, "#filters select[name=category]")).select_by_value("fees")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(lambda: "共 2 条" in heatmap_text())
    assert "类别 fees" in heatmap_text()

    browser.get(f"{base}/review")  # the key is shared by the pages of this tab
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "article.item"))
