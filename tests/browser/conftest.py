"""The console in a real browser (issue 15): Debian's Chromium, driven by Playwright, against the
local stack's HTTP front, signed in through moto's Cognito.

`make test` installs Chromium (local/install_chromium.sh) and Playwright (pyproject.toml). Every
page a test opens must finish loading without a script error; `CONSOLE_SCREENSHOTS=<dir>` (set by
`make screenshots`) saves a picture of each page the tests reach with data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.seed import CONSOLE_PASSWORD, seed_console_users_and_sync

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless on a machine without a display, a sandbox or outside network (root in CI containers).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_ADMIN = "admin@salon-demo.example"
LANGUAGE_KEY = "calbridge.console.lang"  # functions/console/static/i18n.js
# Chromium logs every 4xx answer as a console error; the pages show those themselves.
_RESOURCE_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `make test` (it installs it) or local/install_chromium.sh"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console(fresh):
    """The demo salon as `make serve` starts it: its console users, a first team sync (Lena and
    Sara wait in the review queue)."""
    seed_console_users_and_sync(fresh)
    return fresh


class ConsolePage:
    """One browser tab on the console, in one language."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    def sign_in(
        self, email: str = DEMO_ADMIN, password: str = CONSOLE_PASSWORD, *, expect_signed_in: bool = True
    ) -> None:
        self.page.goto(f"{self.base_url}/console")
        self.page.get_by_label(re.compile("^(E-mail|E-Mail)")).fill(email)
        self.page.get_by_label(re.compile("^(Password|Passwort)")).fill(password)
        self.page.locator("form button[type=submit]").click()
        if expect_signed_in:
            self.page.locator("#nav").wait_for(state="visible")
            self.wait_loaded()
        else:
            self.page.get_by_role("alert").wait_for()

    def open(self, name: str) -> str:
        """Open a page by its nav entry; its state once loaded (ready, empty or error)."""
        self.page.locator(f'#nav a[href$="#/{name}"]').click()
        self.page.locator(f'main[data-page="{name}"]').wait_for()
        return self.wait_loaded()

    def wait_loaded(self) -> str:
        main = self.page.locator("main")
        self.page.wait_for_function(
            "() => { const m = document.querySelector('main');"
            " return m && m.dataset.state && m.dataset.state !== 'loading'; }"
        )
        return main.get_attribute("data-state") or ""

    def screenshot(self, name: str) -> None:
        target = os.environ.get("CONSOLE_SCREENSHOTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


@pytest.fixture
def open_console(browser, console) -> Iterator[object]:
    """A function opening a tab in a language (default en); after the test, no tab may have
    thrown a script error or logged one beyond the 4xx answers the pages show themselves."""
    errors: list[str] = []
    contexts = []

    def open_tab(language: str = "en") -> ConsolePage:
        context = browser.new_context(
            locale="en-GB" if language == "en" else "de-DE", viewport={"width": 1280, "height": 860}
        )
        context.add_init_script(f"localStorage.setItem('{LANGUAGE_KEY}', '{language}')")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not _RESOURCE_ERROR.match(message.text)
                and errors.append(f"console error: {message.text}")
            ),
        )
        return ConsolePage(page, console.http_url)

    yield open_tab
    for context in contexts:
        context.close()
    assert errors == []
