"""The sample figures on the pages: the job pages' sample columns, a sample's page (its figures
and its text with the copied spans marked) and the side-by-side page across temperatures."""

from __future__ import annotations

from tests.browser.browser_helpers import record_epoch, running_job, user_id
from tests.web.pages.sample_helpers import COPIED
from tests.web.pages.sample_helpers import finished_sample as make_sample
from tests.web.pages.test_pages import sign_in


def test_sample_figures_on_the_job_sample_and_compare_pages(client, user_token, db_session, store):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    record_epoch(db_session, job_id, 1, loss=2.0, val_loss=2.1)
    one = make_sample(db_session, store, job_id, [1.0])
    two = make_sample(db_session, store, job_id, [0.25, 0.5])
    sign_in(client, user_token)

    job = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-field="epoch">1</span>' in job and 'data-field="precision" title="top-k 7">int8</span>' in job
    assert 'data-field="bits_label">1.750 / 2.000</td>' in job and 'data-field="copied_label">2% / 2%</td>' in job
    assert f'href="/jobs/{job_id}/samples/compare"' in job
    live = client.get(f"/jobs/{job_id}/live").json
    assert {s["id"]: s["bits_label"] for s in live["samples"]} == {one: "2.500", two: "1.750 / 2.000"}

    page = client.get(f"/samples/{two}?text=2").get_data(as_text=True)
    assert 'id="sample-epoch">1</dd>' in page and 'id="sample-precision">int8</dd>' in page
    assert "<dt>Options</dt><dd>top-k 7</dd>" in page
    assert '<tr class="chosen">' in page and "sample-1-t0.5.txt</a>" in page and "of 1</span>" in page
    marked = f'<mark class="copied">{COPIED}</mark>'
    assert page.count(marked) == 1 and "value_1 = 1 &lt; 0.5" in page  # text 2, escaped, the copy marked
    assert "value_1 = 1 &lt; 0.25" not in page.split('id="highlighted"')[1]

    compare = client.get(f"/jobs/{job_id}/samples/compare").get_data(as_text=True)
    temperatures = [t for t in ("0.25", "0.5", "1") if f'data-temperature="{t}' in compare]
    assert temperatures == ["0.25", "0.5", "1"]
    assert compare.index('data-temperature="0.25"') < compare.index('data-temperature="0.5"')
    assert compare.index('data-temperature="0.5"') < compare.index('data-temperature="1.0"')
    assert compare.count('<mark class="copied">') == 3 + 1 and "2.500" in compare and "1.750" in compare  # + the legend
    assert 'id="no-samples"' not in compare


def test_compare_page_without_samples_and_for_others(client, user_token, other_token, db_session):
    job_id = running_job(db_session, user_id(db_session, "alice"))
    sign_in(client, user_token)
    assert 'id="no-samples"' in client.get(f"/jobs/{job_id}/samples/compare").get_data(as_text=True)
    other = client.application.test_client()
    sign_in(other, other_token)
    assert other.get(f"/jobs/{job_id}/samples/compare").status_code == 404
