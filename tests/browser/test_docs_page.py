"""The API docs page in a real browser under its CSP (no inline script; any CSP violation is a
console error, which fails the test): the token typed into "Authorize" is used for "Try it out"
and is not kept in localStorage (no persistAuthorization), so it is gone with the tab."""

from __future__ import annotations

TIMEOUT_MS = 10_000


def test_authorize_keeps_the_token_out_of_local_storage(page, server_url, user_token):
    page.goto(server_url + "/api/v1/docs")
    page.wait_for_selector(".swagger-ui .btn.authorize", timeout=TIMEOUT_MS)
    page.click(".swagger-ui .btn.authorize")
    page.fill(".swagger-ui .modal-ux input", user_token)
    page.click(".swagger-ui .modal-ux .auth-btn-wrapper .authorize")
    page.wait_for_selector(".swagger-ui .modal-ux .auth-btn-wrapper .btn-done", timeout=TIMEOUT_MS)
    page.click(".swagger-ui .modal-ux .auth-btn-wrapper .btn-done")
    assert page.locator(".swagger-ui .btn.authorize.locked").count() == 1  # the UI holds it, in memory

    stored = page.evaluate("JSON.stringify(Object.entries(window.localStorage))")
    print(f"FIGURE localStorage after Authorize: {stored}")
    assert user_token not in stored and "authorized" not in stored
    page.reload()
    page.wait_for_selector(".swagger-ui .btn.authorize", timeout=TIMEOUT_MS)
    assert page.locator(".swagger-ui .btn.authorize.locked").count() == 0  # a reload forgets it
