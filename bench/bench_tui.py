"""The explorer's speed, measured beside a minimal Textual app in the same run.

1. Time to the first usable screen and peak memory (the child process's max RSS): pamexplorer
   (service picker, system services and the lab) against a minimal Textual app (Header, a
   Static, Footer), each started the same way in a fresh process on a pseudo-terminal and
   stopped when Textual reports the first frame shown (the ``Ready`` event), in rounds that
   alternate which starts first (ABBA). Target: <= 1.3x.
   Both start with their bytecode cached (a private ``PYTHONPYCACHEPREFIX`` the warm-up runs
   fill), as an installed package has it: with ``PYTHONDONTWRITEBYTECODE`` set and no cache,
   pamexplorer's modules would be compiled in every run while textual's came compiled by pip.
   ``--env-bytecode`` leaves bytecode to the environment instead.
2. Never stuck: while a module blocks for 3 s inside pam_authenticate (built here with cc),
   key presses are still answered. Each press opens or closes the code reference; its latency
   is the time until the screen has changed. Target: every press within 100 ms.
3. Linear in messages: one pam_authenticate whose module sends N info messages through the
   conversation (N = 1,000 and 10,000), timed from the key press to the finished call drawn.
   Target: the 10k/1k ratio near 10 (linear), not 100 (quadratic).

Usage: python3 bench/bench_tui.py [runs] [--env-bytecode] [startup|keys|messages ...]
(no section named: all three)
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 11
TARGET_RATIO = 1.3
TARGET_KEY_MS = 100.0

DRIVER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    which = sys.argv[1]
    if which == "minimal":
        from textual.app import App
        from textual.widgets import Footer, Header, Static

        class Target(App):
            BINDINGS = [("q", "quit", "Quit")]

            def compose(self):
                yield Header()
                yield Static("hello")
                yield Footer()
    else:
        from pamexplorer.tui.app import PamExplorerApp as Target

    class Probe(Target):
        def on_ready(self):
            os.write(int(os.environ["BENCH_READY_FD"]), b"ready\\n")
            self.exit()

    Probe().run()
    """
)


def measure_start(driver: Path, which: str, pycache: Path | None = None) -> tuple[float, int]:
    """Seconds from spawn to the first frame, and the child's peak RSS in KiB. ``pycache``:
    where the child reads and writes bytecode (None: as the environment says)."""
    ready_r, ready_w = os.pipe()
    master, slave = pty.openpty()
    env = dict(
        os.environ, BENCH_READY_FD=str(ready_w), TERM="xterm-256color", COLUMNS="100", LINES="30"
    )
    env.pop("TEXTUAL", None)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, str(driver), which],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        pass_fds=[ready_w],
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    os.close(ready_w)
    elapsed = float("nan")
    try:
        while True:
            ready, _, _ = select.select([master, ready_r], [], [], 30)
            if not ready:
                raise RuntimeError(f"{which}: no first frame within 30 s")
            if master in ready:
                try:
                    os.read(master, 65536)  # keep the terminal drained
                except OSError:
                    pass
            if ready_r in ready:
                if os.read(ready_r, 64):
                    elapsed = time.perf_counter() - started
                break
        while child.poll() is None:
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        _, _status, usage = os.wait4(child.pid, 0)
    except ChildProcessError:
        usage = None  # type: ignore[assignment]
    finally:
        os.close(master)
        os.close(ready_r)
        if child.poll() is None:
            child.kill()
    rss = usage.ru_maxrss if usage is not None else 0
    return elapsed, rss


def startup_section(runs: int, env_bytecode: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER.format(root=str(ROOT)))
        pycache = None if env_bytecode else Path(tmp) / "pycache"
        results: dict[str, list[tuple[float, int]]] = {"minimal": [], "pamexplorer": []}
        # warm the page cache (and fill the bytecode cache) for both
        measure_start(driver, "minimal", pycache)
        measure_start(driver, "pamexplorer", pycache)
        for n in range(runs):  # ABBA: a load that grows or fades does not favour one side
            order = ("pamexplorer", "minimal") if n % 2 else ("minimal", "pamexplorer")
            for which in order:
                results[which].append(measure_start(driver, which, pycache))
    times = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    rss = {k: statistics.median(r for _, r in v) for k, v in results.items()}
    t_ratio = times["pamexplorer"] / times["minimal"]
    m_ratio = rss["pamexplorer"] / rss["minimal"]
    bytecode = "as the environment has it" if env_bytecode else "cached for both"
    print(f"first usable screen (median of {runs}, pty 100x30, bytecode {bytecode}):")
    print(
        f"  minimal Textual app  {times['minimal'] * 1000:7.0f} ms   peak RSS "
        f"{rss['minimal'] / 1024:6.1f} MiB"
    )
    print(
        f"  pamexplorer picker   {times['pamexplorer'] * 1000:7.0f} ms   peak RSS "
        f"{rss['pamexplorer'] / 1024:6.1f} MiB"
    )
    print(
        f"  ratio time {t_ratio:.2f}x  memory {m_ratio:.2f}x   (target <= {TARGET_RATIO}x: "
        f"{'met' if max(t_ratio, m_ratio) <= TARGET_RATIO else 'NOT met'})"
    )


BLOCK_SOURCE = """
#include <unistd.h>
__attribute__((visibility("default")))
int pam_sm_authenticate(void *pamh, int flags, int argc, const char **argv) {
    sleep(3);
    return 0;
}
"""


def build_blocking_module(directory: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("a C compiler (cc) is needed for the blocking module")
    source = directory / "block.c"
    source.write_text(BLOCK_SOURCE)
    out = directory / "pam_block.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return out


def send_key(app: object, key: str) -> None:
    """Hand one key to the app the way its terminal driver does (no Pilot idling)."""
    from textual import events

    char = "?" if key == "question_mark" else None
    event = events.Key(key, char)
    event.set_sender(app)  # type: ignore[arg-type]
    app._driver.send_message(event)  # type: ignore[attr-defined]


@asynccontextmanager
async def started_transaction(confdir: Path, service: str) -> AsyncIterator[tuple[Any, Any, Any]]:
    """(app, pilot, screen): the app opened on ``service`` as ``nobody``, pam_start done."""
    sys.path.insert(0, str(ROOT))
    from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
    from pamexplorer.tui.screens.transaction import TransactionScreen

    app = PamExplorerApp(
        LaunchOptions(confdir=confdir, service=service, user="nobody", stable=True)
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TransactionScreen)
        await pilot.press("n")
        while screen.busy:
            await asyncio.sleep(0.01)
        yield app, pilot, screen


async def key_latencies(confdir: Path) -> tuple[list[float], bool]:
    latencies: list[float] = []
    async with started_transaction(confdir, "block") as (app, pilot, screen):
        await pilot.press("a")
        while screen.in_flight != "pam_authenticate":
            await asyncio.sleep(0.001)
        call_started = time.perf_counter()
        while time.perf_counter() - call_started < 2.5:
            before = app.screen
            key = "question_mark" if before is screen else "escape"
            pressed = time.perf_counter()
            send_key(app, key)
            while app.screen is before:
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - pressed) * 1000)
            await asyncio.sleep(0.05)
        still_blocked = screen.busy and screen.in_flight == "pam_authenticate"
        while screen.busy:
            await asyncio.sleep(0.05)
    return latencies, still_blocked


def responsiveness_section() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        module = build_blocking_module(Path(tmp))
        confdir = Path(tmp) / "pam.d"
        confdir.mkdir()
        (confdir / "block").write_text(f"auth required {module}\n")
        latencies, overlapped = asyncio.run(key_latencies(confdir))
    worst = max(latencies)
    print("keys while a module blocks 3 s in pam_authenticate:")
    print(
        f"  {len(latencies)} presses (code reference open/close), median "
        f"{statistics.median(latencies):.1f} ms, worst {worst:.1f} ms, call still blocked "
        f"at the end: {'yes' if overlapped else 'NO'}"
    )
    print(
        f"  target every press <= {TARGET_KEY_MS:.0f} ms: "
        f"{'met' if worst <= TARGET_KEY_MS and overlapped else 'NOT met'}"
    )


FLOOD_SOURCE = """
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
typedef int (*get_item_fn)(const void *, int, const void **);
struct pam_message { int msg_style; const char *msg; };
struct pam_response { char *resp; int resp_retcode; };
struct pam_conv {
    int (*conv)(int, const struct pam_message **, struct pam_response **, void *);
    void *appdata_ptr;
};
__attribute__((visibility("default")))
int pam_sm_authenticate(void *pamh, int flags, int argc, const char **argv) {
    /* libpam is loaded without RTLD_GLOBAL: look pam_get_item up in it. */
    void *lib = dlopen("libpam.so.0", RTLD_NOW | RTLD_NOLOAD);
    get_item_fn get_item = lib ? (get_item_fn)dlsym(lib, "pam_get_item") : 0;
    const struct pam_conv *conv = 0;
    if (!get_item || get_item(pamh, 5, (const void **)&conv) != 0 || !conv) return 19;
    int count = argc > 0 ? atoi(argv[0]) : 1000;
    char text[64];
    for (int i = 0; i < count; i++) {
        snprintf(text, sizeof text, "message %d of a long welcome", i);
        struct pam_message msg = { 4, text };
        const struct pam_message *msgs[1] = { &msg };
        struct pam_response *resp = 0;
        if (conv->conv(1, msgs, &resp, conv->appdata_ptr) != 0) return 19;
        if (resp) { free(resp[0].resp); free(resp); }
    }
    return 0;
}
"""


async def render_time(confdir: Path, service: str) -> float:
    """Seconds from pressing ``a`` to the finished call drawn in the timeline."""
    async with started_transaction(confdir, service) as (_, pilot, screen):
        started = time.perf_counter()
        await pilot.press("a")
        while screen.busy or screen.timeline.entries[-1].record is None:
            await asyncio.sleep(0.005)
        await pilot.pause()  # the finished entry drawn
        return time.perf_counter() - started


def messages_section() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("a C compiler (cc) is needed for the flood module")
        source = Path(tmp) / "flood.c"
        source.write_text(FLOOD_SOURCE)
        module = Path(tmp) / "pam_flood.so"
        subprocess.run(
            [cc, "-shared", "-fPIC", "-O1", "-o", str(module), str(source)],
            check=True,
            capture_output=True,
        )
        confdir = Path(tmp) / "pam.d"
        confdir.mkdir()
        counts = (1_000, 10_000)
        for count in counts:
            (confdir / f"flood{count}").write_text(f"auth required {module} {count}\n")
        times = {count: asyncio.run(render_time(confdir, f"flood{count}")) for count in counts}
    print("one conversation call with N info messages, key press to the call drawn:")
    for count in counts:
        each = times[count] / count * 1e3
        print(f"  {count:6,} messages  {times[count]:6.2f} s  ({each:.2f} ms each)")
    ratio = times[10_000] / times[1_000]
    print(f"  10k/1k ratio {ratio:.1f} (linear: ~10, quadratic: ~100)")


SECTIONS = ("startup", "keys", "messages")


def main(argv: list[str] | None = None) -> None:
    args = argv or []  # bench/run.py runs every section with the default runs
    runs = next((int(a) for a in args if a.isdigit()), RUNS)
    env_bytecode = "--env-bytecode" in args
    chosen = [a for a in args if not a.isdigit() and a != "--env-bytecode"] or list(SECTIONS)
    unknown = [a for a in chosen if a not in SECTIONS]
    if unknown:
        names = ", ".join(SECTIONS)
        raise SystemExit(f"bench_tui: unknown section {unknown[0]!r} (one of {names})")
    if "startup" in chosen:
        startup_section(runs, env_bytecode)
    if "keys" in chosen:
        responsiveness_section()
    if "messages" in chosen:
        messages_section()


if __name__ == "__main__":
    main(sys.argv[1:])
