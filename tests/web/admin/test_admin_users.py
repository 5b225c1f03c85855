"""The admin users page (each user's stored bytes against their storage quota, their corpora and
work) and the pages of the admin lists (jobs, corpora, users: `?page=`, `?per_page=`, links)."""

import re

from sqlalchemy import select

from shared.db.models import User
from tests.web.admin.admin_helpers import make_corpus, make_job, make_user


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def page(client, token: str, path: str) -> str:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_users_page_shows_stored_bytes_limits_and_counts(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    make_job(admin_db, status="running", owner_name="alice", storage_bytes=2_000_000)  # a corpus of 3.9 MB too
    make_corpus(admin_db, "bob", name="b.txt")
    alice = admin_db.scalar(select(User).where(User.name == "alice"))
    alice.quotas = {"max_storage_bytes": 30_000_000, "max_jobs": 5}
    admin_db.commit()
    html = page(admin_client, token, "/admin/users")
    assert 'href="/admin/users" class="active">Users</a>' in html  # in the nav
    row = r'<tr data-user-id="\d+">\s*<td class="num">\d+</td>\s*<td>(\w+)</td>(.*?)</tr>'
    rows = dict(re.findall(row, html, re.S))
    assert set(rows) == {"root", "alice", "bob"}
    stored = 3_900_000 + 5 * 3_890_000 + 2_000_000  # corpus, its index (estimated), checkpoints
    assert f'data-storage-bytes="{stored}"' in rows["alice"] and "24.2 MB / 28.6 MB" in rows["alice"]
    assert "checkpoints 1.9 MB" in rows["alice"]  # the parts, in the tooltip
    assert "1 / 100" in rows["alice"] and "1 (1)" in rows["alice"]  # corpora of the limit; jobs (active)
    assert "max_jobs 5, max_storage_bytes 30,000,000" in rows["alice"]
    assert f'data-storage-bytes="{3_900_000 + 5 * 3_890_000}"' in rows["bob"] and "/ 20.0 GB" in rows["bob"]
    assert 'data-storage-bytes="0"' in rows["root"] and ">0 B</td>" in rows["root"]  # an admin: no limit
    alice.quotas = {"max_storage_bytes": 1000}
    admin_db.commit()
    assert 'class="num nowrap over"' in page(admin_client, token, "/admin/users")


def test_admin_lists_are_paginated(admin_client, admin_db):
    token = make_user(admin_db, "root", admin=True)
    for i in range(5):
        make_user(admin_db, f"user{i}")
        make_corpus(admin_db, f"user{i}", name=f"corpus-{i}.txt")
    html = page(admin_client, token, "/admin/corpora?per_page=2")
    assert html.count("<tr>") == 1 + 2 and "corpus-4.txt" in html and "corpus-3.txt" in html
    assert "page 1 of 3 · 5 in all" in html and 'href="/admin/corpora?page=2&amp;per_page=2" rel="next"' in html
    html = page(admin_client, token, "/admin/corpora?per_page=2&page=3")
    assert "corpus-0.txt" in html and "corpus-1.txt" not in html and 'rel="next"' not in html
    assert 'href="/admin/corpora?page=2&amp;per_page=2" rel="prev"' in html
    html = page(admin_client, token, "/admin/users?per_page=4&page=2")  # root and user0..4: 6 users
    assert html.count("data-user-id=") == 2 and "page 2 of 2 · 6 in all" in html
    html = page(admin_client, token, "/admin/users?per_page=1000&page=0")  # clamped: 100 a page, page 1
    assert html.count("data-user-id=") == 6 and "page 1 of 1" in html
    for _ in range(3):
        make_job(admin_db, status="queued", owner_name="user0")
    html = page(admin_client, token, "/admin/?per_page=2")
    assert html.count('<tr data-job-id="') == 2 + 1  # and the row template
    assert 'href="/admin/?page=2&amp;per_page=2">older' in html
    listing = admin_client.get("/admin/api/jobs?per_page=2&page=2", headers=bearer(token)).get_json()
    assert len(listing["jobs"]) == 1 and listing["per_page"] == 2 and listing["has_more"] is False
