"""The page `genkit serve` answers at / in a real browser: headless Chromium (Debian's `chromium`
package) driven by Playwright, against a real uvicorn process — no browser download at test time.

Needs Debian's `chromium` (the README's test command installs it) and `playwright` (the dev extra);
without chromium the tests fail, saying what to install: a browser test that skips proves nothing.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import playwright.sync_api as playwright
import pytest
from PIL import Image
from serve_exports import serving, write_cvae, write_cycle, write_vae

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_exports")
    with serving([write_cvae(root / "cvae"), write_vae(root / "vae"), write_cycle(root / "cycle")], "--max-n", "64") as (_, base):
        yield base, root


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM, "no chromium on PATH: `apt-get install -y chromium` (Debian's package; the README's test command runs it)"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server[0] + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        yield page
        browser.close()


def _loaded(page, selector: str) -> dict:
    """Wait until the <img> shows a decoded image; its natural size."""
    page.wait_for_function(f"document.querySelector({selector!r}).complete && document.querySelector({selector!r}).naturalWidth > 0", timeout=20_000)
    return page.eval_on_selector(selector, "img => ({width: img.naturalWidth, height: img.naturalHeight, src: img.src})")


def test_the_page_draws_a_grid_of_the_chosen_class(page):
    page.select_option("#model", "tiny_cvae")
    assert page.is_visible("#label-box") and not page.is_visible("#diffusion-box") and not page.is_visible("#translate-box")
    page.select_option("#label", "1")
    page.fill("#seed", "3")
    page.fill("#n", "16")
    page.click("#draw")
    grid = _loaded(page, "#grid")
    assert grid["src"].startswith("blob:") and grid["width"] > 16 * 8  # 16 cells of 8x8, scaled 2x, in one labelled row
    assert page.inner_text("#error") == ""


def test_the_page_shows_the_servers_error_for_a_bad_request(page):
    page.select_option("#model", "tiny_cvae")
    page.fill("#n", "1000")
    page.click("#draw")
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=20_000)
    assert "n is 1,000" in page.inner_text("#error")
    page.fill("#n", "16")


def test_clicking_the_latent_map_decodes_that_point(page):
    page.select_option("#model", "tiny_vae")
    assert page.is_visible("#map-box") and not page.is_visible("#label-box")
    page.wait_for_function("document.getElementById('map').style.backgroundImage.startsWith('url(')", timeout=20_000)
    page.click("#map", position={"x": 300, "y": 60})
    point = _loaded(page, "#point")
    assert point["width"] >= 8
    z = [float(v) for v in page.inner_text("#z").split(",")]
    assert z[0] > 1.0 and z[1] > 1.0  # right of centre, above it: both latents positive in [-3, 3]


def test_uploading_an_image_shows_its_translation(page, server):
    page.select_option("#model", "tiny_cycle")
    assert page.is_visible("#translate-box") and not page.is_visible("#sample-box")
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))).save(buffer, format="PNG")
    path = server[1] / "ramp.png"
    path.write_bytes(buffer.getvalue())
    page.set_input_files("#translate-file", str(path))
    page.select_option("#direction", "ba")
    page.click("#translate")
    shown = _loaded(page, "#translated")
    assert shown["height"] > 2 * 8  # an input row and an output row
