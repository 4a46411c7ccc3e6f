"""The page of ``python -m tfgenre.serve`` driven by a real, headless Chromium.

The server runs as its own process on a free port, as a user starts it; Playwright drives
Debian's ``chromium`` (Playwright's own browser download cannot work offline). Without the
browser or the ``playwright`` package every test here is skipped with the reason
(``make test`` installs the browser first when it can).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if importlib.util.find_spec("playwright") is None:
    pytest.skip("the browser tests need the playwright package (pip install -r requirements.txt)",
                allow_module_level=True)
if CHROMIUM is None:
    pytest.skip("the browser tests need Debian's chromium (make browser, or as root: "
                "apt-get install -y chromium)", allow_module_level=True)

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import spawn  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from skips import needs_musicnn  # noqa: E402
from synth import tone  # noqa: E402

#: Autoplay without a click, and a fake microphone that grants itself (a beeping tone).
CHROMIUM_FLAGS = ["--autoplay-policy=no-user-gesture-required",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  "--no-sandbox", "--disable-dev-shm-usage"]
#: Generous: the first request may still be waiting for a model on a loaded machine.
WAIT_MS = 120_000
URL = re.compile(r"https?://[0-9A-Za-z.\-\[\]:]+:\d+/?")


class Server:
    """A ``python -m tfgenre.serve`` process and its base URL (no trailing slash)."""

    def __init__(self, proc: subprocess.Popen | spawn.Child, url: str, log: Path):
        self.proc, self.url, self.log = proc, url.rstrip("/"), log

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def predict(self, path: Path, fields: dict[str, str]) -> dict:
        """POSTs ``path`` to /api/predict as multipart, as a program would."""
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 .encode() for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + path.read_bytes() + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(
            self.url + "/api/predict", data=body, method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read())


def start_server(models: list[str], log: Path, *flags: str) -> Server:
    """Starts the server on a free port and waits for its printed URL and /healthz."""
    argv = [sys.executable, "-m", "tfgenre.serve", "--port", "0", *flags]
    for model in models:
        argv += ["--model", model]
    errors = log.with_suffix(".stderr")
    proc = spawn.start(argv, output=(log, errors))
    deadline = time.monotonic() + 300
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()}\n"
                        f"{errors.read_text()}")
        match = URL.search(log.read_text())
        if match:
            url = match.group(0)
            try:
                with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=5) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        return Server(proc, url, log)
            except (urllib.error.URLError, OSError, ValueError):
                pass
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"serve printed no URL / answered no /healthz in 300 s (url={url}):\n"
                f"{log.read_text()}\n{errors.read_text()}")


def stop_server(server: Server) -> None:
    server.proc.terminate()  # SIGTERM, like Ctrl-C: a clean shutdown
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def server(tiny_runs, tmp_path_factory) -> Iterator[Server]:
    """The tiny mel_cnn run, served (one genre model: no picker), with small limits."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    srv = start_server([str(tiny_runs.mel)], log, "--max-upload-mb", "2", "--max-seconds", "20")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.grant_permissions(["microphone"])
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 s of 22.05-kHz audio whose timbre changes every 3 s (four segments' worth)."""
    sr = 22050
    y = np.concatenate([tone(3.0, sr, f, seed=i) for i, f in enumerate((220, 660, 330, 880))])
    path = tmp_path_factory.mktemp("clips") / "four tones.wav"
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def open_page(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-models]", state="attached", timeout=WAIT_MS)


def upload(page: Page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    page.wait_for_selector("body[data-ready]", state="attached", timeout=WAIT_MS)
    page.wait_for_selector("#top-label", timeout=WAIT_MS)
    page.wait_for_selector("#timeline[data-segments]", state="attached", timeout=WAIT_MS)


def canvas_ink(page: Page, canvas_id: str) -> int:
    """How many pixels of a canvas differ from its top-left pixel (0 = blank)."""
    return page.evaluate("""(id) => {
        const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
            if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) n++;
        return n;
    }""", canvas_id)


def current_time(page: Page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def click_timeline(page: Page, fraction: float) -> None:
    timeline = page.locator("#timeline")
    box = timeline.bounding_box()
    assert box is not None
    # A locator's click scrolls the timeline into view first (it may be below the fold).
    timeline.click(position={"x": fraction * box["width"], "y": box["height"] / 2})


def test_page_shows_the_api_answer_and_seeks(page, server, clip, tmp_path):
    open_page(page, server)
    assert page.is_hidden("#model-field"), "one model served: no picker"
    upload(page, clip)

    api = server.predict(clip, {"top_k": "5", "segments": "true"})
    assert page.text_content("#top-label").strip() == api["genres"][0][0]
    shown = page.eval_on_selector_all("#bars .bar-label", "ls => ls.map(l => l.textContent)")
    assert shown == [label for label, _ in api["genres"][:5]]
    first_pct = page.locator("#bars li").nth(0).locator(".bar-pct").text_content()
    assert first_pct == f"{100 * api['genres'][0][1]:.1f}%"
    assert page.get_attribute("#timeline", "data-segments") == str(api["num_segments"])
    assert api["num_segments"] > 1
    assert canvas_ink(page, "waveform") > 100, "the waveform was not drawn"
    assert canvas_ink(page, "heatmap") > 100, "the per-segment heatmap was not drawn"
    # What the model is, beside the result.
    info = page.text_content("#model-info")
    assert "3 genres" in info and "Protocol" in info, info

    # Clicking the timeline seeks the audio; the cursor follows.
    page.wait_for_function("document.getElementById('player').readyState >= 1",
                           timeout=WAIT_MS)
    before = page.evaluate("getComputedStyle(document.getElementById('cursor')).transform")
    click_timeline(page, 0.5)
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 6) < 0.5",
                           timeout=10_000)
    after = page.evaluate("getComputedStyle(document.getElementById('cursor')).transform")
    assert after != before
    click_timeline(page, 0.25)
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 3) < 0.5",
                           timeout=10_000)

    page.screenshot(path=str(tmp_path / "serve_page.png"), full_page=True)
    assert (tmp_path / "serve_page.png").stat().st_size > 10_000


def test_playback_moves_the_cursor(page, server, clip):
    open_page(page, server)
    upload(page, clip)
    page.wait_for_function("document.getElementById('player').readyState >= 2",
                           timeout=WAIT_MS)
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function("document.getElementById('player').currentTime > 0.3",
                           timeout=20_000)
    page.evaluate("document.getElementById('player').pause()")
    now = page.get_attribute("#timeline", "aria-valuenow")
    assert float(now) > 0.2, "the cursor did not follow playback"


def test_a_dropped_file_is_analysed_with_a_busy_state_meanwhile(page, server, clip):
    open_page(page, server)
    held = []  # the upload is held back until the busy state has been seen
    page.route("**/api/predict", lambda route: held.append(route))
    data = base64.b64encode(clip.read_bytes()).decode()
    transfer = page.evaluate_handle("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.wav", { type: "audio/wav" }));
        return dt;
    }""", data)
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#busy", state="visible", timeout=10_000)
    assert "dropped.wav" in page.text_content("#busy")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.wait_for_selector("body[data-ready]", state="attached", timeout=WAIT_MS)
    assert page.is_hidden("#busy")
    assert page.text_content("#file-name").strip().endswith("dropped.wav")
    assert page.text_content("#top-label").strip()


def test_a_busy_server_is_a_readable_error(page, server, clip):
    # The server's documented 503 (tests/test_serve.py provokes the real one).
    body = {"error": {"code": "busy", "message": "the server is busy (1 inference(s) "
                      "running and 2 waiting at most); retry after 2 s"}}
    page.route("**/api/predict", lambda route: route.fulfill(
        status=503, headers={"Retry-After": "2"}, content_type="application/json",
        body=json.dumps(body)))
    open_page(page, server)
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    message = page.text_content("#error")
    assert message.startswith("The server is busy; try again in 2 s"), message
    assert page.is_hidden("#busy")


def test_bad_file_is_a_readable_error(page, server, tmp_path):
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"this is not a wav file, only text pretending to be one\n" * 20)
    open_page(page, server)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    message = page.text_content("#error")
    assert "could not be read as audio" in message or "refused" in message, message
    assert page.is_hidden("#busy"), "the busy state stayed on after the error"
    assert page.is_visible("#drop"), "the page must stay usable after an error"


def test_too_large_and_too_long_are_readable_errors(page, server, tmp_path):
    open_page(page, server)
    assert page.text_content("#drop-limits") == "Up to 2 MB and 20 s of audio."
    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    page.set_input_files("#file", str(big))
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    message = page.text_content("#error")
    assert "too large" in message and "limit of 2 MB" in message, message

    long = tmp_path / "long.wav"  # 25 s: under 2 MB, over --max-seconds 20
    sf.write(long, tone(25.0, 22050, 440.0), 22050, subtype="PCM_16")
    page.set_input_files("#file", str(long))
    page.wait_for_function("document.getElementById('error').textContent.includes('too long')",
                           timeout=WAIT_MS)
    message = page.text_content("#error")
    assert "20 s" in message and "[audio_too_long]" in message, message
    assert page.is_hidden("#busy")


def test_a_good_file_after_a_bad_one_clears_the_error(page, server, clip, tmp_path):
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    open_page(page, server)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT_MS)
    upload(page, clip)
    assert page.is_hidden("#error")


def test_recording_from_the_microphone_is_uploaded(page, server):
    open_page(page, server)
    page.click("#record")
    page.wait_for_selector("#record[aria-pressed='true']", timeout=20_000)
    page.wait_for_timeout(2500)  # Chromium's fake device beeps; record 2.5 s of it
    page.click("#record")
    page.wait_for_selector("body[data-ready]", state="attached", timeout=WAIT_MS)
    assert page.text_content("#top-label").strip()
    assert page.text_content("#file-name").strip().endswith("recording.wav")
    assert page.is_hidden("#error"), page.text_content("#error")


@needs_musicnn
def test_picker_and_tags_on_a_real_clip(browser, tiny_runs, clip, tmp_path, request):
    """Two models served: the picker lists both; musicnn_msd's tags on a real GTZAN clip
    (the synthetic clip without TFGENRE_REAL_DATA). Its screenshot is README's."""
    root = os.environ.get("TFGENRE_REAL_DATA")
    real = Path(root or "") / "gtzan_sample" / "genres" / "rock" / "rock.00000.wav"
    audio = real if root and real.is_file() else clip
    srv = start_server([str(tiny_runs.mel), "musicnn_msd"], tmp_path / "serve.log")
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        page = context.new_page()
        open_page(page, srv)
        assert page.is_visible("#model-field")
        names = page.eval_on_selector_all("#model option", "os => os.map(o => o.value)")
        assert "musicnn_msd" in names and len(names) == 2
        page.select_option("#model", "musicnn_msd")
        assert "licence" in page.text_content("#model-info").lower()
        page.fill("#top-k", "5")
        upload(page, audio)
        api = srv.predict(audio, {"model": "musicnn_msd", "top_k": "5", "segments": "true"})
        assert page.text_content("#top-label").strip() == api["tags"][0][0]
        assert page.text_content("#bars-heading") == "Top tags"
        click_timeline(page, 0.4)
        page.wait_for_function("document.getElementById('player').currentTime > 1",
                               timeout=10_000)
        shot = tmp_path / "serve_tags.png"
        page.screenshot(path=str(shot), full_page=True)
        out = os.environ.get("TFGENRE_SCREENSHOT")
        if out:  # how README's docs/serve.png is made (see README, Serve)
            shutil.copyfile(shot, out)
    finally:
        context.close()
        stop_server(srv)
