"""For tests/browser/test_every_page.py: the records every page route needs (their ids by route
argument name), and the in-page measurements (JavaScript run on the page)."""

from __future__ import annotations

from tests.analysis_helpers import python_text, store_checkpoint
from tests.browser.browser_helpers import TEST_LEASE, WORKER

MIN_TEXT_PX = 9

LOOK = {
    # a body that is only a JSON document (what a browser shows for an API answer)
    "raw_json": """() => {
      const t = (document.body ? document.body.innerText : '').trim();
      if (!/^[\\[{]/.test(t)) return false;
      try { JSON.parse(t); return true; } catch (e) { return false; }
    }""",
    "document_overflow": """() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)
      - document.documentElement.clientWidth""",
    # tables wider than the box they sit in, unless an ancestor scrolls them sideways (`wide`: at
    # a desktop width even a scrolled table hides columns, so the scroll wrapper does not excuse it)
    "clipped_tables": """(wide) => {
      const out = [];
      for (const table of document.querySelectorAll('table')) {
        if (!table.getClientRects().length) continue;
        let box = table.parentElement, wrapped = false;
        for (let el = box; el && el !== document.body; el = el.parentElement) {
          const o = getComputedStyle(el).overflowX;
          if (o === 'auto' || o === 'scroll') { wrapped = !wide; box = el; break; }
        }
        if (wrapped) continue;
        const pad = getComputedStyle(box), width = table.getBoundingClientRect().width;
        const room = box.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight);
        const name = table.id || table.className || 'table';
        if (width > room + 1) out.push(`${name} ${Math.round(width)} px in ${Math.round(room)} px`);
      }
      return out;
    }""",
    # visible text drawn smaller than MIN_TEXT_PX css px (SVG text counts its scale on screen)
    "small_text": f"""() => {{
      const out = new Set();
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {{
        if (!n.textContent.trim()) continue;
        const el = n.parentElement;
        if (!el || !el.getClientRects().length) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || style.display === 'none') continue;
        let px = parseFloat(style.fontSize);
        if (el instanceof SVGElement && el.getScreenCTM) {{
          const m = el.getScreenCTM();
          if (m) px *= Math.hypot(m.a, m.b);
        }}
        const what = `${{el.tagName.toLowerCase()}} "${{n.textContent.trim().slice(0, 20)}}"`;
        if (px < {MIN_TEXT_PX} - 0.05) out.add(`${{what}} ${{px.toFixed(1)}}px`);
        if (out.size >= 5) break;
      }}
      return [...out];
    }}""",
    # same-origin links (paths with their query), no fragments, no downloads of the page itself
    "links": """() => [...new Set([...document.querySelectorAll('a[href]')]
      .map(a => new URL(a.getAttribute('href'), location.href))
      .filter(u => u.origin === location.origin && (u.protocol === 'http:' || u.protocol === 'https:'))
      .map(u => u.pathname + u.search))]""",
}


def records_for_every_page(session, store, owner_id: int, record_epoch, running_job) -> dict:
    """A finished job (3 epochs, epoch 1's checkpoint pruned by retention), a job continuing it,
    a finished sample, a finished analysis and a sweep, all the owner's; their ids by the names
    the routes give their arguments (`parent`, `child` for the comparison)."""
    from shared import lifecycle
    from shared.db.models import Job, WorkStatus
    from tests.browser.browser_helpers import finished_analysis
    from tests.web.pages.sample_helpers import finished_sample

    parent = running_job(session, owner_id, epochs=3)
    for epoch, (loss, val) in enumerate(((2.8, 2.9), (2.4, 2.6), (2.1, 2.4)), start=1):
        record_epoch(session, parent, epoch, loss=loss, val_loss=val)
        store_checkpoint(store, parent, epoch, TEST_LEASE)
    lifecycle.finish_job(session, parent, WorkStatus.succeeded, worker=WORKER)
    session.commit()
    analysis_id = finished_analysis(session, store, parent, python_text()[:600])
    sample_id = finished_sample(session, store, parent, [0.2, 0.5, 0.75, 1.0])
    pruned = session.get(Job, parent).epochs[0]
    store.delete_prefix(pruned.checkpoint_key)
    lifecycle.retention.mark_pruned(session, parent, [pruned.epoch])
    session.commit()

    child = lifecycle.lineage.create_child_job(session, session.get(Job, parent), owner_id, more_epochs=2)
    session.commit()
    assert lifecycle.claim_job(session, child.id, WORKER) is not None
    session.commit()
    record_epoch(session, child.id, 4, loss=1.9, val_loss=2.2)
    store_checkpoint(store, child.id, 4, TEST_LEASE)

    sweep_id = _sweep(session, owner_id, session.get(Job, parent).corpus_id)
    return {
        "job_id": parent,
        "epoch": 2,
        "sample_id": sample_id,
        "analysis_id": analysis_id,
        "sweep_id": sweep_id,
        "corpus_id": session.get(Job, parent).corpus_id,
        "user_id": owner_id,
        "parent": parent,
        "child": child.id,
    }


def _sweep(session, owner_id: int, corpus_id: int) -> int:
    from shared.engine.config import Hyperparameters
    from shared.lifecycle.sweeps import create_sweep

    variants = [{"units": 16}, {"units": 32}]
    hps = [Hyperparameters(layers=1, units=v["units"], epochs=2) for v in variants]
    sweep = create_sweep(
        session, owner_id, corpus_id, {"layers": 1, "epochs": 2}, variants, hps, grid={"units": [16, 32]}
    )
    session.commit()
    return sweep.id
