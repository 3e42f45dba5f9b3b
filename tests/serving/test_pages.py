"""The pages for people (/review, /matrix) in a real headless Chromium against a real server (uvicorn).

One server and one browser for the module (they take seconds to start). The review workspace is
driven the way a supervisor would: log in, filter to P1, open an item, see the highlights, correct
a label with the keyboard only, see the new priority/route/deadline, undo, and meet a stale submit.
Screenshots at 1280×800 and 390×844 are written to $TRIAGE_SCREENSHOT_DIR, by default
.cache/screenshots/ in the repository (the path is printed).

Needs Debian's chromium and chromium-driver (.ci/run installs them); skipped, saying so, without.
"""
from __future__ import annotations

from contextlib import contextmanager

import os
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
from serving.security.auth import create_key  # noqa: E402
from serving.db.tables import Classification  # noqa: E402
from serving.settings import Settings  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("TRIAGE_SCREENSHOT_DIR") or REPO / ".cache" / "screenshots")
XSS = '<img src=x onerror="document.title=\'pwned\'"> 不确定 年费'
LEASE_S = 2.0


def received(hh_mm: str) -> str:
    return f"2026-12-01T{hh_mm}:00+08:00"


ITEMS = [
    {"id": "P1-A", "text": "他们天天催收，还打电话到我单位，我不确定该找谁", "received_at": received("10:00"),
     "metadata": {"channel": "app"}},
    {"id": "P1-B", "text": "催收人员威胁我 不确定", "received_at": received("10:30")},
    {"id": "FEE", "text": "年费 不确定", "received_at": received("09:00"), "metadata": {"channel": "hotline"}},
    {"id": "XSS", "text": XSS, "received_at": received("09:05")},
    {"id": "SURE", "text": "转账失败", "received_at": received("09:10")},  # confident: not queued
    *({"id": f"P4-{i:02d}", "text": f"转账 不确定 {i}", "received_at": received(f"11:{i:02d}")} for i in range(24)),
]


@contextmanager
def running_app(tmp: Path, **settings):
    """The app with the fake classifier, served by uvicorn on a free loopback port in a thread (the
    browser needs a real server): yields (base URL, app) and stops it on leaving."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(database_url=f"sqlite:///{tmp / 'ui.db'}", log_level="WARNING", rate_limit_per_minute=0,
                        guideline_path=REPO / "data" / "LABELING.md", **settings)
    app = create_app(settings, classifier_override=FakeClassifier())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui"), claim_lease_seconds=LEASE_S) as (base, app):
        keys = {}
        with app.state.services.sessions.begin() as session:
            for role, name in (("ingest", "crm"), ("supervisor", "王主管"), ("admin", "李主管")):
                keys[role] = create_key(session, role, name=name)[1]
        r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {keys['ingest']}"},
                       json={"items": ITEMS})
        assert r.status_code == 200, r.text
        yield base, keys, app


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    # The console, for Content-Security-Policy violations (test_the_pages_run_under_a_csp_without_unsafe_inline).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Deadlines are shown in the browser's time zone: pin it so the expected times are known.
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": "Asia/Shanghai"})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def viewport(browser, width: int, height: int) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert browser.get_screenshot_as_file(str(path))
    print(f"screenshot: {path}")
    return path


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - an element replaced while read: try again
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for the page"
        time.sleep(0.05)


def text_of(browser, css: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css).text


def press(browser, *keys: str) -> None:
    """Keys sent to the page as a supervisor types them, nothing focused."""
    from selenium.webdriver.common.action_chains import ActionChains

    for k in keys:
        ActionChains(browser).send_keys(k).perform()


def current_item(browser) -> str:
    return wait_for(lambda: browser.find_element("css selector", "#items li.current").get_attribute("data-id"))


def login(browser, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{base}/review")
    switch = browser.find_element(By.ID, "switch-key")
    # Settled: asking for a key, or logged in with this tab's key (then switch keys).
    if wait_for(lambda: switch.is_displayed() or text_of(browser, "#status")) and switch.is_displayed():
        switch.click()
    field = browser.find_element(By.ID, "key")
    field.send_keys(key, Keys.ENTER)


def stored(app) -> dict:
    with app.state.services.sessions() as session:
        return {r.item_id: r for r in session.scalars(select(Classification))}


def test_a_supervisor_works_the_p1_queue_from_the_keyboard(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, keys, app = server
    viewport(browser, 1280, 800)
    browser.get(f"{base}/review")
    assert "请输入复核密钥" in text_of(browser, "#status")
    assert browser.find_element(By.CSS_SELECTOR, 'meta[name="viewport"]')
    assert browser.find_element(By.ID, "guideline").get_attribute("href").endswith("/guideline")
    assert httpx.get(f"{base}/guideline").status_code == 200

    login(browser, base, "trk_not_a_key")
    assert "E501" in wait_for(lambda: text_of(browser, "#status")) and "密钥无效" in text_of(browser, "#status")

    # Log in: the queue opens in working order, P1 first, the first item opened.
    login(browser, base, keys["supervisor"])
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#items li")) == 20)
    levels = [li.find_element(By.CSS_SELECTOR, ".lvl").text for li in browser.find_elements(By.CSS_SELECTOR, "#items li")]
    assert levels[:2] == ["P1", "P1"] and set(levels[2:]) == {"P4"}
    assert text_of(browser, "#total") == "28"

    # Item text is shown as text: the markup in it is not executed.
    assert any(s.text == XSS for s in browser.find_elements(By.CSS_SELECTOR, "#items .snippet"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#items img") and browser.title != "pwned"

    # Paging: ] shows the next page, [ comes back.
    press(browser, "]")
    wait_for(lambda: text_of(browser, "#page") == "第 2 页" and len(browser.find_elements(By.CSS_SELECTOR, "#items li")) == 8)
    press(browser, "[")
    wait_for(lambda: text_of(browser, "#page") == "第 1 页")

    # Filter to P1 (a bookmarkable URL).
    browser.find_element(By.CSS_SELECTOR, "#filters input[name=level][value=P1]").click()
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(lambda: text_of(browser, "#total") == "2")
    assert "level=P1" in browser.current_url
    ids = stored(app)
    assert current_item(browser) == str(ids["P1-A"].id)  # earliest first-response deadline first
    assert "客户单号 P1-A" in text_of(browser, "#meta") and "渠道 手机银行 App" in text_of(browser, "#meta")
    assert "值班主管" in text_of(browser, "#route") and "紧急且重要" in text_of(browser, "#level")
    assert "12/01 10:30" in text_of(browser, "#respond-by") and "已超时" in text_of(browser, "#respond-by")
    assert "复核原因：类别置信度低" in text_of(browser, "#reasons")

    # Highlights: the words behind each label.
    marks = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#text mark"))
    assert "催收" in [m.text for m in marks]
    assert "紧急度「高」：催收" in text_of(browser, "#why")
    screenshot(browser, "review-1280x800.png")

    # Correct urgency with the keyboard only: l (low), Enter. Priority, route and deadline follow.
    press(browser, "l")
    assert browser.find_element(By.CSS_SELECTOR, "#decision input[name=urgency][value=low]").is_selected()
    press(browser, Keys.ENTER)
    wait_for(lambda: "已更正：紧急度 → 低" in text_of(browser, "#status"))
    assert "P2" in text_of(browser, "#level") and "重要不紧急" in text_of(browser, "#level")
    assert "合规与法务" in text_of(browser, "#route")
    assert "12/02 10:00" in text_of(browser, "#respond-by")  # P2: 24 h from 12/01 10:00
    row = stored(app)["P1-A"]
    assert (row.level, row.route, row.urgency, row.revision) == ("P2", "compliance", "low", 1)
    assert "本次已复核 1 条（确认 0，更正 1）" in text_of(browser, "#progress")

    # A second reviewer, who loaded the item before this decision, submits: 409 with the current state.
    late = httpx.post(f"{base}/v1/items/{row.id}/review", headers={"X-API-Key": keys["admin"]},
                      json={"urgency": "medium", "revision": 0})
    assert late.status_code == 409 and late.json()["error"]["code"] == "E542"
    assert late.json()["error"]["details"]["item"]["labels"]["urgency"] == "low"

    # Undo (u): back to P1, duty supervisor, 30-minute deadline; the history keeps all three states.
    press(browser, "u")
    wait_for(lambda: "已撤销" in text_of(browser, "#status"))
    assert "P1" in text_of(browser, "#level") and "值班主管" in text_of(browser, "#route")
    assert "12/01 10:30" in text_of(browser, "#respond-by")
    row = stored(app)["P1-A"]
    assert (row.level, row.route, row.reviewed_at, row.revision) == ("P1", "duty_supervisor", None, 2)
    assert "本次已复核 0 条（确认 0，更正 0）" in text_of(browser, "#progress")

    # Keys per reviewed item: confirm = j Enter; correct = a label key and Enter (after j).
    browser.find_element(By.CSS_SELECTOR, "#filters input[name=level][value=P1]").click()  # whole queue again
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(lambda: text_of(browser, "#total") == "28" and current_item(browser) == str(row.id))
    browser.execute_script("document.activeElement.blur()")
    done = browser.execute_script("return window.triageStats.perItem.length")
    press(browser, Keys.ENTER)  # confirm P1-A as predicted (it is open)
    wait_for(lambda: browser.execute_script("return window.triageStats.reviewed") == 1)
    for _ in range(2):
        before = browser.execute_script("return window.triageStats.reviewed")
        press(browser, "j", Keys.ENTER)
        wait_for(lambda: browser.execute_script("return window.triageStats.reviewed") == before + 1)
    for _ in range(3):
        before = browser.execute_script("return window.triageStats.reviewed")
        press(browser, "j", "3", Keys.ENTER)  # category: contract_legal
        wait_for(lambda: browser.execute_script("return window.triageStats.reviewed") == before + 1)
    per_item = browser.execute_script("return window.triageStats.perItem")[done:]
    confirm = [p["keys"] for p in per_item if not p["corrected"]]
    correct = [p["keys"] for p in per_item if p["corrected"]]
    print(f"keys per reviewed item: confirm {confirm}, correct {correct}")
    assert confirm[1:] == [2, 2] and correct == [3, 3, 3]
    decided = stored(app)
    assert all(decided[i].reviewed_labels == {"category": decided[i].category, "category_secondary": None,
                                              "sentiment": decided[i].sentiment, "urgency": decided[i].urgency}
               for i in ("P1-A", "P1-B", "FEE"))  # confirmed as predicted
    assert decided["P1-B"].level == "P1" and decided["FEE"].category == "fees"
    assert [decided[i].category for i in ("XSS", "P4-00", "P4-01")] == ["contract_legal"] * 3


def test_a_stale_submit_in_the_page_shows_409_and_the_current_state(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, keys, app = server
    viewport(browser, 1280, 800)
    browser.get(f"{base}/review?level=P4")
    wait_for(lambda: text_of(browser, "#total") and current_item(browser))
    item = int(current_item(browser))
    # the list marks the item before the page has read it: wait for the item itself, else the page could
    # read the colleague's decision below and its submit would not be stale
    wait_for(lambda: f"#{item} " in text_of(browser, "#meta"))
    admin = {"X-API-Key": keys["admin"]}
    # Opened in the page, not acted on (so not claimed): another supervisor decides meanwhile; the
    # page's submit is then stale.
    assert httpx.get(f"{base}/v1/items/{item}", headers=admin).json()["claim"] is None
    assert httpx.post(f"{base}/v1/items/{item}/review", headers=admin,
                      json={"urgency": "high", "revision": 0}).status_code == 200
    browser.execute_script("document.activeElement.blur()")
    press(browser, Keys.ENTER)
    status = wait_for(lambda: "E542" in (t := text_of(browser, "#status")) and t)
    assert "已被他人修改" in status
    assert "P3" in text_of(browser, "#level")  # the page now shows the other supervisor's decision
    assert browser.find_element(By.CSS_SELECTOR, "#decision input[name=urgency][value=high]").is_selected()
    assert stored(app)  # and nothing of the stale submit was stored:
    with app.state.services.sessions() as session:
        assert session.get(Classification, item).urgency == "high"


def test_the_workspace_is_usable_on_a_390px_phone(server, browser):
    from selenium.webdriver.common.by import By

    base, keys, _app = server
    viewport(browser, 390, 844)
    try:
        browser.get(f"{base}/review?status=all&level=P1")  # the key is kept for this tab
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#text mark"))
        width = browser.execute_script("return window.innerWidth")
        wide = browser.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 390.5)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right))"
            ".slice(0, 8)")
        assert width == 390 and not wide, wide
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scroll
        detail = browser.find_element(By.ID, "detail").rect
        queue = browser.find_element(By.ID, "queue").rect
        assert detail["y"] < queue["y"] and detail["width"] <= width  # the open item first, then the list
        submit = browser.find_element(By.ID, "submit").rect
        assert submit["x"] >= 0 and submit["x"] + submit["width"] <= width and submit["height"] >= 30
        text = browser.find_element(By.ID, "text")
        assert float(text.value_of_css_property("font-size").rstrip("px")) >= 16  # readable, not 40 % zoom
        screenshot(browser, "review-390x844.png")
    finally:
        viewport(browser, 1280, 800)


def test_the_page_keeps_the_key_for_the_tab_only_and_needs_the_review_role(server, browser):
    base, keys, _app = server
    login(browser, base, keys["ingest"])
    assert "E502" in wait_for(lambda: text_of(browser, "#status"))
    assert "无权复核" in text_of(browser, "#status")
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.execute_script("return sessionStorage.getItem('triage_key')") == keys["ingest"]


def test_the_matrix_page_shows_the_heatmap_for_the_filters(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, keys, app = server
    rows = stored(app).values()
    browser.get(f"{base}/matrix")
    browser.find_element(By.ID, "key").send_keys(keys["supervisor"])
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()

    def heatmap_text() -> str:
        browser.switch_to.frame(browser.find_element(By.ID, "heatmap"))
        try:
            return browser.find_element(By.TAG_NAME, "body").text
        finally:
            browser.switch_to.default_content()

    assert f"共 {len(rows)} 条" in wait_for(lambda: "共" in (t := heatmap_text()) and t)
    Select(browser.find_element(By.CSS_SELECTOR, "#filters select[name=category]")).select_by_value("fees")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    fees = sum(1 for r in rows if r.category == "fees")  # the labels in force, corrections included
    wait_for(lambda: f"共 {fees} 条" in heatmap_text())
    assert "类别 fees" in heatmap_text()


def csp_violations(browser) -> list[str]:
    """The console's Content-Security-Policy reports since the last call (of the top document: Chromium
    does not log those of a sandboxed srcdoc frame, see inline_markup)."""
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


# What the policy would refuse in a document: style attributes and elements, scripts that are not files or data.
INLINE = ("return [...document.querySelectorAll('[style], style, script:not([src])')]"
          ".filter(e => e.type !== 'application/json').map(e => e.outerHTML.slice(0, 80))")


def test_the_pages_run_under_a_csp_without_unsafe_inline(server, browser):
    """Scripts and styles come from /static, data from a JSON block: the pages work, styled, with a
    policy that refuses inline script and style, and the console reports no violation."""
    from selenium.webdriver.common.by import By

    base, keys, app = server
    for path in ("/review", "/matrix", "/insights", "/guideline"):
        policy = httpx.get(base + path).headers["content-security-policy"]
        assert "'unsafe-inline'" not in policy and "script-src 'self';" in policy and "style-src 'self';" in policy
    csp_violations(browser)  # what earlier tests left

    viewport(browser, 1280, 800)
    login(browser, base, keys["supervisor"])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#items li"))
    current_item(browser)  # the script ran: an item is open
    wait_for(lambda: browser.execute_script("return getComputedStyle(document.querySelector('#items li')).borderRadius")
             == "6px")

    assert browser.execute_script(INLINE) == []

    def in_frame(frame: str, script: str):  # noqa: ANN202
        browser.switch_to.frame(browser.find_element(By.ID, frame))
        try:
            return browser.execute_script(script)
        finally:
            browser.switch_to.default_content()

    browser.get(f"{base}/matrix")  # the tab's key: the view loads by itself
    # the sandboxed frame's view is styled from /static too: the busiest cell in the darkest shade
    wait_for(lambda: in_frame("heatmap", "const c = document.querySelector('td.shade-10');"
                                         "return c && getComputedStyle(c).backgroundColor") == "rgb(255, 80, 80)")
    assert in_frame("heatmap", INLINE) == [] and browser.execute_script(INLINE) == []
    browser.get(f"{base}/insights")
    wait_for(lambda: in_frame("view", "const r = document.querySelector('svg.bar rect');"
                                      "return r && getComputedStyle(r).fill") == "rgb(74, 126, 187)")
    assert in_frame("view", INLINE) == []
    browser.get(f"{base}/guideline")
    wait_for(lambda: browser.execute_script("return getComputedStyle(document.querySelector('pre')).whiteSpace")
             == "pre-wrap")
    assert csp_violations(browser) == []

    # The check can fail: an inline script is refused and reported.
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'document.title = 1';"
                           "document.body.append(s);")
    assert wait_for(lambda: csp_violations(browser))
    assert browser.title == "标注指南"


def test_docs_and_redoc_render_without_internet(server, browser):
    """Swagger UI and ReDoc draw the API from the service's own assets (no CDN, no web fonts)."""
    from selenium.webdriver.common.by import By

    base, _keys, _app = server
    browser.get(f"{base}/docs")
    operations = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"), timeout=20)
    assert "/v1/items/{item}/review" in {o.text.replace("\u200b", "") for o in operations}
    # Its bootstrap script runs under the response's nonce; any other inline script is refused.
    assert csp_violations(browser) == []
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'document.title = 1';"
                           "document.body.append(s);")
    assert wait_for(lambda: csp_violations(browser)) and browser.title != "1"
    browser.get(f"{base}/redoc")
    wait_for(lambda: "/v1/items/{item}/explanation" in browser.find_element(By.TAG_NAME, "body").text, timeout=20)
    # ReDoc's footer asks cdn.redoc.ly for a logo: the page's Content-Security-Policy blocks it, so
    # nothing comes from outside the service (a blocked request has no status and no bytes).
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus, e.transferSize])")
    assert any(url == f"{base}/docs-assets/redoc.standalone.js" and status == 200 for url, status, _ in resources)
    outside = [r for r in resources if not r[0].startswith(base)]
    assert all(status == 0 and size == 0 for _, status, size in outside), outside


def test_a_watched_item_sorts_above_every_unwatched_non_p1_item_and_says_why(server, browser):
    """The review policy queued it because it may be urgent although the model said low: the list
    shows it at the level urgency high would give (P1 here), above the P2 and P4 items, marked. An
    `other` text from a VIP customer stays low (metadata alone does not lift noise)."""
    from selenium.webdriver.common.by import By

    base, keys, app = server
    items = [
        {"id": "WATCHED", "text": "年费 投诉 我的钱不见了 疑似紧急", "received_at": received("12:00")},  # model: P2, low
        {"id": "P2-EARLY", "text": "年费 投诉 不确定", "received_at": received("08:00")},  # P2, earlier deadline
        {"id": "P4-EARLY", "text": "转账 不确定 早", "received_at": received("07:00")},  # P4, earliest of all
        # noise from a VIP: metadata alone does not lift an `other` text (configs/priority.yaml)
        {"id": "VIP-NOISE", "text": "哈哈哈哈 不确定", "received_at": received("06:00"),
         "metadata": {"customer_tier": "vip", "amount": 80000}},
    ]
    r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {keys['ingest']}"}, json={"items": items})
    assert r.status_code == 200, r.text
    viewport(browser, 1280, 800)
    login(browser, base, keys["supervisor"])
    watched = str(stored(app)["WATCHED"].id)
    # The list as one snapshot (read in one script: a list re-rendered meanwhile would leave stale elements).
    snapshot = ("return [...document.querySelectorAll('#items li')].map(li => ({id: li.dataset.id, cls: li.className, "
                "watch: (li.querySelector('.watch') || {}).textContent, lvl: li.querySelector('.lvl').textContent}))")
    entries = wait_for(lambda: (e := browser.execute_script(snapshot)) and watched in [x["id"] for x in e] and e)
    rows = {str(r.id): r for r in stored(app).values()}
    ids = [e["id"] for e in entries]
    position = ids.index(watched)
    below = ids[position + 1:]
    unwatched_non_p1 = [i for i in ids if i != watched and rows[i].level != "P1" and not rows[i].sort_reasons]
    assert unwatched_non_p1 and set(unwatched_non_p1) <= set(below)
    assert {str(stored(app)[i].id) for i in ("P2-EARLY", "P4-EARLY")} <= set(below)
    assert entries[position]["watch"] == "疑似紧急：按P1排序" and "watched" in entries[position]["cls"]
    assert entries[position]["lvl"] == "P2"  # its priority is unchanged
    noise = [e for e in entries if e["id"] == str(stored(app)["VIP-NOISE"].id)]
    assert noise and noise[0]["lvl"] not in ("P1", "P2")
    # Opened, it says why it is watched (the class watched for, not only the predicted label),
    # and highlights no filler word.
    browser.find_element(By.CSS_SELECTOR, f'#items li[data-id="{watched}"]').click()
    # Read in one script: the page may re-render the item meanwhile (its claim, the list).
    why, marks = wait_for(lambda: browser.execute_script(
        "const w = document.querySelector('#why').textContent;"
        "const m = [...document.querySelectorAll('#text mark')].map(x => x.textContent);"
        "return w.includes('为何关注') && m.length ? [w, m] : null;"))
    assert "为何关注「可能为高紧急度」· 紧急度「高」" in why, why
    assert not {"我", "的", "了"} & set(marks), marks
    screenshot(browser, "review-watched-1280x800.png")


def test_search_then_bulk_confirm_the_picked_items_in_the_page(server, browser):
    """A supervisor searches the queue by text (kept in the URL), picks two of the three hits and
    confirms them at once: one decision each, the third stays; the team figures count them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, keys, app = server
    items = [{"id": f"BULK-{i}", "text": f"批量 年费 不确定 {i}", "received_at": received("08:30")} for i in range(3)]
    r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {keys['ingest']}"}, json={"items": items})
    assert r.status_code == 200, r.text
    viewport(browser, 1280, 800)
    login(browser, base, keys["admin"])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#items li"))
    search = browser.find_element(By.CSS_SELECTOR, "#filters input[name=q]")
    search.clear()
    search.send_keys("批量", Keys.ENTER)
    ids = {str(stored(app)[f"BULK-{i}"].id) for i in range(3)}
    wait_for(lambda: {li.get_attribute("data-id") for li in browser.find_elements(By.CSS_SELECTOR, "#items li")} == ids)
    assert "q=%E6%89%B9%E9%87%8F" in browser.current_url and "搜索 批量" in text_of(browser, "#filter-summary")
    entries = browser.find_elements(By.CSS_SELECTOR, "#items li")
    picked = [entries[0].get_attribute("data-id"), entries[2].get_attribute("data-id")]
    for li in (entries[0], entries[2]):
        li.find_element(By.CSS_SELECTOR, "input.pick").click()
    assert text_of(browser, "#bulk-confirm") == "批量确认（2 条）"
    browser.find_element(By.ID, "bulk-confirm").click()
    wait_for(lambda: "已批量确认 2 条" in text_of(browser, "#status"))
    left = wait_for(lambda: [li.get_attribute("data-id") for li in browser.find_elements(By.CSS_SELECTOR, "#items li")]
                    if len(browser.find_elements(By.CSS_SELECTOR, "#items li")) == 1 else None)
    assert set(left) == ids - set(picked)
    rows = {str(r.id): r for r in stored(app).values()}
    assert all(rows[i].reviewed_at is not None and rows[i].revision == 1 for i in picked)
    # The team figures: the admin's decisions are there.
    browser.find_element(By.CSS_SELECTOR, "#figures summary").click()
    wait_for(lambda: "李主管" in text_of(browser, "#figures tbody"))
    screenshot(browser, "review-bulk-1280x800.png")


def shown(browser, item) -> bool:
    """The item's details are on the page (its entry is marked current before they arrive)."""
    return text_of(browser, "#meta").startswith(f"#{item} ")


def classify(base: str, keys: dict, items: list[dict]) -> dict[str, int]:
    r = httpx.post(f"{base}/v1/classify", headers={"Authorization": f"Bearer {keys['ingest']}"}, json={"items": items})
    assert r.status_code == 200, r.text
    return {x["id"]: x["stored_id"] for x in r.json()["results"]}


def test_the_page_claims_on_the_first_action_renews_releases_and_takes_over(server, browser):
    """Opening an item holds nothing; the first action claims it, the page renews the claim while the
    item is open (past the lease) and releases it on moving on and on leaving the page; an item
    another supervisor holds is read-only with who holds it, and can be taken over with a note."""
    import threading as th

    from selenium.webdriver.common.by import By

    base, keys, _app = server
    ids = classify(base, keys, [{"id": "CLAIM-1", "text": "年费 不确定 认领", "metadata": {"channel": "wechat"}},
                                {"id": "CLAIM-2", "text": "转账 不确定 认领", "metadata": {"channel": "wechat"}}])
    admin = {"X-API-Key": keys["admin"]}

    def claim_of(item: int):
        return httpx.get(f"{base}/v1/items/{item}", headers=admin).json()["claim"]

    def held_by(item: int, name: str) -> bool:
        claim = claim_of(item)
        return bool(claim) and claim["reviewer"]["name"] == name

    viewport(browser, 1280, 800)
    login(browser, base, keys["supervisor"])  # this tab's key: 王主管
    browser.get(f"{base}/review?channel=wechat")
    wait_for(lambda: text_of(browser, "#total") == "2" and current_item(browser))
    first = int(current_item(browser))
    wait_for(lambda: shown(browser, first))
    assert first in ids.values() and "渠道 微信银行" in text_of(browser, "#meta")
    assert claim_of(first) is None  # opening (browsing) holds nothing
    browser.execute_script("document.activeElement.blur()")
    press(browser, "m")  # the first action: urgency medium
    wait_for(lambda: held_by(first, "王主管"))
    time.sleep(LEASE_S + 0.5)  # renewed while the item stays open
    assert held_by(first, "王主管")
    assert httpx.post(f"{base}/v1/items/{first}/claim", headers=admin).status_code == 409
    press(browser, "j")  # moving on gives it back
    wait_for(lambda: current_item(browser) != str(first))
    wait_for(lambda: claim_of(first) is None)
    second = int(current_item(browser))
    wait_for(lambda: shown(browser, second))
    press(browser, "h")
    wait_for(lambda: held_by(second, "王主管"))
    browser.get(f"{base}/guideline")  # leaving the page (pagehide) gives it back
    wait_for(lambda: claim_of(second) is None)

    # Another supervisor holds the first item (renewing it): the page shows who and offers a take-over.
    stop = th.Event()

    def hold() -> None:
        while not stop.is_set():
            httpx.post(f"{base}/v1/items/{first}/claim", headers=admin)
            stop.wait(0.3)

    holder = th.Thread(target=hold, daemon=True)
    holder.start()
    try:
        wait_for(lambda: held_by(first, "李主管"))
        browser.get(f"{base}/review?channel=wechat&status=all")  # the pending queue skips items others hold
        wait_for(lambda: str(first) in [li.get_attribute("data-id") for li in browser.find_elements(By.CSS_SELECTOR, "#items li")])
        browser.find_element(By.CSS_SELECTOR, f'#items li[data-id="{first}"]').click()
        wait_for(lambda: shown(browser, first))
        status = wait_for(lambda: "李主管" in (t := text_of(browser, "#status")) and t)
        assert "E543" in status and "接手" in status
        assert browser.find_element(By.ID, "takeover").is_displayed()
        assert not browser.find_element(By.ID, "submit").is_enabled()
        browser.find_element(By.ID, "takeover-button").click()
        wait_for(lambda: "请填写接手原因" in text_of(browser, "#status"))
        browser.find_element(By.ID, "takeover-note").send_keys("客户在等，由我接手")
        browser.find_element(By.ID, "takeover-button").click()
        wait_for(lambda: "已接手" in text_of(browser, "#status"))
    finally:
        stop.set()
        holder.join(5)
    assert held_by(first, "王主管")
    item = httpx.get(f"{base}/v1/items/{first}", headers=admin).json()
    assert [(t["reviewer"]["name"], t["taken_from"]["name"]) for t in item["takeovers"]] == [("王主管", "李主管")]
    assert browser.find_element(By.ID, "submit").is_enabled() and not browser.find_element(By.ID, "takeover").is_displayed()
    browser.execute_script("document.querySelector('#history').open = true")
    assert "王主管 接手（原处理人 李主管）· 原因：客户在等，由我接手" in text_of(browser, "#history")
    browser.get(f"{base}/guideline")
    wait_for(lambda: claim_of(first) is None)


def test_undo_survives_a_reload_the_secondary_is_kept_and_the_page_speaks_chinese(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    base, keys, app = server
    ids = classify(base, keys, [{"id": "SEC", "text": "年费 未经同意 不确定", "metadata": {"channel": "branch"}}])
    viewport(browser, 1280, 800)
    login(browser, base, keys["supervisor"])  # this tab's key: 王主管
    browser.get(f"{base}/review?channel=branch")
    wait_for(lambda: current_item(browser) == str(ids["SEC"]) and shown(browser, ids["SEC"]))
    secondary = Select(browser.find_element(By.CSS_SELECTOR, "#decision select[name=category_secondary]"))
    assert secondary.first_selected_option.get_attribute("value") == "contract_legal"
    browser.execute_script("document.activeElement.blur()")
    press(browser, "a", Keys.ENTER)  # sentiment negative, the secondary untouched
    wait_for(lambda: "已更正" in text_of(browser, "#status"))
    row = stored(app)["SEC"]
    assert (row.sentiment, row.category, row.category_secondary, row.revision) == ("negative", "fees", "contract_legal", 1)

    # Reloaded: the queue is empty, and the undo of the last decision is still offered.
    browser.refresh()
    status = wait_for(lambda: "队列已清空" in (t := text_of(browser, "#status")) and t)
    assert f"按 u 可撤销你最近一次复核 #{ids['SEC']}" in status
    press(browser, "u")
    wait_for(lambda: "已撤销" in text_of(browser, "#status"))
    row = stored(app)["SEC"]
    assert (row.reviewed_at, row.revision, row.category_secondary) == (None, 2, "contract_legal")
    browser.execute_script("document.querySelector('#history').open = true")
    history = text_of(browser, "#history")
    assert "第 2 版 撤销（撤回第 1 版）" in history and "undo of revision" not in history

    # Choosing the secondary as the category swaps them instead of dropping the secondary.
    browser.refresh()
    wait_for(lambda: current_item(browser) == str(ids["SEC"]) and shown(browser, ids["SEC"]))
    browser.execute_script("document.activeElement.blur()")
    press(browser, "3")  # category: contract_legal
    secondary = Select(browser.find_element(By.CSS_SELECTOR, "#decision select[name=category_secondary]"))
    assert secondary.first_selected_option.get_attribute("value") == "fees"
    press(browser, Keys.ENTER)
    wait_for(lambda: "已更正" in text_of(browser, "#status"))
    row = stored(app)["SEC"]
    assert (row.category, row.category_secondary) == ("contract_legal", "fees")

    # Dates are typed as 年-月-日 时:分 (no mm/dd/yyyy picker); a wrong one is refused in Chinese.
    browser.execute_script("document.querySelector('#filterbox').open = true")
    start = browser.find_element(By.CSS_SELECTOR, "#filters input[name=from]")
    assert start.get_attribute("type") == "text" and "2026-12-01" in start.get_attribute("placeholder")
    start.send_keys("12/01/2026")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(lambda: "请按“年-月-日”" in text_of(browser, "#status"))
    start.clear()
    start.send_keys("2026-12-01 10:15")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(lambda: "from=2026-12-01T02%3A15%3A00.000Z" in browser.current_url)
    assert "收到自 12/01 10:15" in text_of(browser, "#filter-summary") and "渠道 网点" in text_of(browser, "#filter-summary")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "mm/dd/yyyy" not in body.lower() and "undo of" not in body
    assert not browser.find_elements(By.CSS_SELECTOR, "input[type=datetime-local], input[type=date]")


def test_after_submit_on_a_phone_the_confirmation_is_in_sight(server, browser):
    from selenium.webdriver.common.by import By

    base, keys, app = server
    ids = classify(base, keys, [{"id": "PHONE", "text": "转账 不确定 手机", "metadata": {"channel": "web"}}])
    viewport(browser, 390, 844)
    try:
        login(browser, base, keys["supervisor"])  # this tab's key: 王主管
        browser.get(f"{base}/review?channel=web")
        wait_for(lambda: current_item(browser) == str(ids["PHONE"]) and shown(browser, ids["PHONE"]))
        submit = browser.find_element(By.ID, "submit")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", submit)
        submit.click()  # 提交: confirm
        wait_for(lambda: "已确认" in text_of(browser, "#status"))
        top, bottom, height, scrolled = browser.execute_script(
            "const r = document.getElementById('status').getBoundingClientRect();"
            "return [r.top, r.bottom, innerHeight, scrollY]")
        assert scrolled > 200  # the submit button was a screen below the status line
        assert 0 <= top and bottom <= height, (top, bottom, height)
        assert stored(app)["PHONE"].revision == 1
        screenshot(browser, "review-390x844-submitted.png")
    finally:
        viewport(browser, 1280, 800)
