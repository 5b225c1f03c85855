"""Every page looked at: each GET route of the pages and admin blueprints (read from the app's
url_map, ids filled from records made here) visited in a real browser at 1280x800 and 390x844, as
an admin and as an ordinary user. A page fails on a console error, a failed request of its own, a
raw JSON body, horizontal overflow (of the document, or of a table outside a scroll wrapper), a
same-origin link that answers 4xx, or visible text smaller than 9 px. Screenshots go to
test-artifacts/screenshots/. Routes that serve data to the pages' scripts (JSON, SVG, text,
downloads) are listed in DATA_ROUTES and only fetched, never looked at."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.browser.browser_helpers import ConsoleErrors, record_epoch, running_job, sign_in, user_id
from tests.browser.every_page_checks import LOOK, records_for_every_page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = {"wide": (1280, 800), "phone": (390, 844)}
BLUEPRINTS = ("pages", "admin")
# routes that feed the pages' scripts or download a file: fetched (status < 400), not looked at
DATA_ROUTES = {
    "pages.static",
    "admin.static",
    "pages.analysis_result_json",
    "pages.checkpoint",
    "pages.job_chart",
    "pages.job_live",
    "pages.job_next_char",
    "pages.sample_live",
    "pages.sample_stream",  # the text as it is written (Server-Sent Events), read by the sample page
    "pages.sample_text",
    "pages.compare_chart",
    "pages.compare_live",
    "pages.compare_table",
    "admin.api_jobs",
    "admin.api_job",
    "admin.job_chart",
    "admin.sample_text",
}
# the query strings some routes need
QUERIES = {
    "pages.compare_page": "jobs={parent},{child}",
    "pages.compare_chart": "jobs={parent},{child}",
    "pages.compare_live": "jobs={parent},{child}",
    "pages.compare_table": "jobs={parent},{child}",
    "pages.job_next_char": "prompt=def+",
}


def _routes(app, ids: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """(endpoint, path) of every GET page route with its ids filled, and the endpoints whose
    arguments no record here fills (the test fails on them: add the record)."""
    routes, unfilled = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or rule.endpoint.split(".")[0] not in BLUEPRINTS:
            continue
        if rule.endpoint in ("pages.static", "admin.static"):
            continue
        try:
            path = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
        except KeyError:
            unfilled.append(rule.endpoint)
            continue
        query = QUERIES.get(rule.endpoint)
        routes.append((rule.endpoint, path + ("?" + query.format(**ids) if query else "")))
    # the continued job's pages too (its chart draws the parent's epochs)
    routes += [("pages.job_page", f"/jobs/{ids['child']}"), ("admin.job_page", f"/admin/jobs/{ids['child']}")]
    return routes, unfilled


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "root"


def _look(page, console: ConsoleErrors, base: str, path: str, failed: list[str], wide: bool) -> list[str]:
    """Visit `path`; what is wrong with it (empty: nothing)."""
    console.errors.clear()
    failed.clear()
    response = page.goto(base + path, wait_until="load")
    page.wait_for_timeout(100)  # the scripts' first fetches
    found = [f"console: {e}" for e in console.errors] + [f"request: {f}" for f in failed]
    if response is None:
        return [*found, "no response"]
    kind = response.headers.get("content-type", "")
    if "json" in kind or page.evaluate(LOOK["raw_json"]):
        found.append(f"raw JSON body ({response.status}): {page.inner_text('body')[:80]!r}")
        return found
    if response.status >= 400:
        found.append(f"answered {response.status}")
    overflow = page.evaluate(LOOK["document_overflow"])
    if overflow > 0:
        found.append(f"the document is {overflow} px wider than the window")
    found += [f"table wider than its box: {t}" for t in page.evaluate(LOOK["clipped_tables"], wide)]
    found += [f"text smaller than 9 px: {t}" for t in page.evaluate(LOOK["small_text"])]
    return found


def test_every_page(browser, live_app, server_url, db_session, store, user_token, admin_token):
    ids = records_for_every_page(db_session, store, user_id(db_session, "alice"), record_epoch, running_job)
    routes, unfilled = _routes(live_app, ids)
    assert unfilled == [], f"no record fills these routes' arguments: {unfilled}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    findings: dict[str, list[str]] = {}
    links: set[str] = set()
    for who, token in (("admin", admin_token), ("user", user_token)):
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=False)
            page = context.new_page()
            console, failed = ConsoleErrors(), list[str]()
            console.watch(page)
            page.on("response", lambda r, failed=failed: _own_failure(r, server_url, failed))
            sign_in(page, server_url, token)
            for endpoint, path in routes:
                if endpoint in DATA_ROUTES or (who == "user" and endpoint.startswith("admin.")):
                    continue
                problems = _look(page, console, server_url, path, failed, wide=size == "wide")
                page.screenshot(path=str(SCREENSHOTS / f"{who}-{size}-{_slug(path)}.png"), full_page=True)
                if problems:
                    findings[f"{who} {width}px {path}"] = problems
                if size == "wide":
                    links.update(page.evaluate(LOOK["links"]))
            if who == "admin" and size == "wide":
                for endpoint, path in routes:  # the data routes answer
                    if endpoint in DATA_ROUTES:
                        status = page.request.get(server_url + path, max_redirects=0).status
                        if status >= 400:
                            findings[f"{who} data {path}"] = [f"answered {status}"]
            if size == "wide":
                for link in sorted(links):
                    status = page.request.get(server_url + link).status
                    if status >= 400:
                        findings.setdefault(f"{who} link {link}", []).append(f"answered {status}")
                links.clear()
            context.close()
    assert findings == {}, "pages with problems:\n" + "\n".join(
        f"  {where}: {'; '.join(problems)}" for where, problems in sorted(findings.items())
    )


def _own_failure(response, base: str, failed: list[str]) -> None:
    """Subresources of this server that answer >= 400 (the document itself is judged apart)."""
    if response.request.resource_type == "document" or not response.url.startswith(base):
        return
    if response.status >= 400:
        failed.append(f"{urlsplit(response.url).path} answered {response.status}")
