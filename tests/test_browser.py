"""The trader's morning in a real browser: Debian's Chromium driven by Playwright against a real
daphne in the embedded mode (in-memory channel layer, tasks in process).

Log in, see the dashboard abstain (the demo model is forced: nothing actionable, the board and
the hidden count instead), run a replay step and see the board's row follow it over the
WebSocket without a reload, open every prediction behind the filter, check the chart and the
SHAP drivers render, acknowledge one; then the analysis chart with the predictions as markers.
The screenshots are kept in var/test-artifacts/ (dashboard.png, analysis.png)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.embedded import ROOT, manage
from tests.servers import start_daphne

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "var" / "test-artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.system]


@pytest.fixture
def server(embedded_site):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    env = embedded_site.env  # migrated, BTCUSDT's candles and funding imported
    manage(env, "train_all", "--symbols", "BTCUSDT", "--until", "2024-01-01", "--quick", "--force")
    manage(
        env, "replay", "--symbols", "BTCUSDT", "--from", "2024-05-13", "--to", "2024-05-13T06:00"
    )
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('trader', password='correct-horse-battery', is_staff=True)",
    )
    daphne, url = start_daphne(env)
    yield url
    daphne.terminate()
    daphne.wait(timeout=10)


def test_log_in_replay_watch_open_acknowledge(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + "/")
        page.fill("#id_username", "trader")
        page.fill("#id_password", "correct-horse-battery")
        page.click("input[type=submit]")
        # The forced demo model earns no grade: the list abstains and says why, with figures;
        # the board shows the series' latest prediction all the same.
        expect(page.locator(".abstention")).to_contain_text("No actionable signal.")
        board = page.locator("#board-BTCUSDT-1h")
        expect(board).to_be_visible()
        expect(page.locator("#hidden-count")).to_contain_text("not actionable")
        assert page.locator("#signal-rows .signal-row").count() == 0
        page.wait_for_function("() => window.htmx && document.querySelector('[ws-connect]')")
        page.wait_for_timeout(500)  # the socket opens after load
        page.evaluate("window.__reloaded = false")  # a reload would reset this
        latest = board.locator("td").nth(1).inner_text()
        page.click("text=Replay next bar")
        # The first replay of a server process loads the model (torch, XGBoost, SHAP) first.
        expect(page.locator("#replay-status")).to_contain_text("Replayed BTCUSDT", timeout=30_000)
        # The new prediction reaches the board over the socket, without a reload.
        expect(board.locator("td").nth(1)).not_to_have_text(latest)
        assert page.evaluate("window.__reloaded") is False
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        # Behind the filter: every prediction, the hidden ones listed.
        page.click("#hidden-count a")
        rows = page.locator("#signal-rows .signal-row")
        expect(rows.first).to_be_visible()
        assert "show=all" in page.url
        newest = rows.first
        when = newest.locator(".note").inner_text().split(" ·")[0]  # "05-13 06:00"
        row_id = newest.get_attribute("id")
        newest.click()
        expect(page.locator("#signal-detail")).to_contain_text(when)  # its detail is in
        expect(page.locator("#signal-detail")).to_contain_text("Not actionable")
        expect(page.locator("#price-chart canvas").first).to_be_visible()
        expect(page.locator(".drivers .bar").first).to_be_visible()
        assert page.locator(".drivers .bar").count() >= 2
        expect(page.locator("#signal-detail")).to_contain_text("TreeSHAP")
        page.click("text=Acknowledge")
        expect(page.locator("#signal-detail")).to_contain_text("Acknowledged")
        expect(page.locator(f"#{row_id}.acknowledged")).to_be_visible()  # the list refreshed
        # The analysis chart: candles, indicators, regime, and the predictions as markers.
        page.goto(server + "/analysis/BTCUSDT/")
        expect(page.locator("#analysis-chart canvas").first).to_be_visible()
        # Every page's title is plain text (the analysis page's once held its script tags).
        for path in ("/", "/analysis/BTCUSDT/", "/risk/", "/journal/", "/simulations/"):
            page.goto(server + path)
            assert "<" not in page.title() and "Trading AI" in page.title(), (path, page.title())
        page.goto(server + "/analysis/BTCUSDT/")
        expect(page.locator("#analysis-chart canvas").first).to_be_visible()
        expect(page.locator("#marker-status")).to_contain_text("0 actionable signals")
        page.check("#every-prediction")
        expect(page.locator("#marker-status")).to_contain_text("predictions on the chart")
        shown = int(page.locator("#analysis-chart").get_attribute("data-markers"))
        assert shown >= 7, "the replayed predictions are not on the chart"
        page.screenshot(path=str(ARTIFACTS / "analysis.png"), full_page=True)
        browser.close()
