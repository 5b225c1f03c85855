"""The fleet benchmark's Markdown table: one column per size, one row per figure, with the targets
at the largest size (a reconciler round under 1 s, claims in a constant number of statements, API
p99 under 50 ms)."""

from __future__ import annotations

from datetime import UTC, datetime

ROUND_TARGET_MS, API_P99_TARGET_MS = 1000.0, 50.0


def _calls(run: dict, kind: str) -> str:
    f = run[kind]
    spread = f"{f['statements_min']}" if f["statements_min"] == f["statements_max"] else (
        f"{f['statements_min']}-{f['statements_max']}")  # fmt: skip
    return f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} ms, {spread} statements ({f['count']})"


def _api(run: dict, kind: str) -> str:
    f = run[kind]
    lost = f"; {f['shed']} shed, {f['failed']} failed" if f["shed"] or f["failed"] else ""
    return f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f} ms{lost}"


ROWS = (
    ("jobs / epochs / samples", lambda r: " / ".join(f"{r['rows'][t]:,}" for t in ("jobs", "epochs", "samples"))),
    ("database size (pg_database_size)", lambda r: f"{r['database_bytes'] / 2**20:,.0f} MiB"),
    ("load time", lambda r: f"{r['load_seconds']:.1f} s"),
    (
        "reconciler round: p50 / max (rounds)",
        lambda r: (
            f"{r['rounds']['p50_ms']:.0f} / {r['rounds']['max_ms']:.0f} ms"
            f" ({r['rounds']['count']}), {r['rounds']['statements_max']} statements"
        ),
    ),  # fmt: skip
    (
        "reconciler round with the orphan sweep",
        lambda r: f"{r['sweep_round']['max_ms']:.0f} ms, {r['sweep_round']['statements_max']} statements",
    ),  # fmt: skip
    ("claim: p50 / p99, statements (claims)", lambda r: _calls(r, "claims")),
    ("fair dispatch: p50 / p99, statements", lambda r: _calls(r, "dispatches")),
    ("heartbeat: p50 / p99, statements", lambda r: _calls(r, "heartbeats")),
    ("record an epoch: p50 / p99, statements", lambda r: _calls(r, "epochs")),
    ("finish: p50 / p99, statements", lambda r: _calls(r, "finishes")),
    ("API list at 100/s: p50 / p99", lambda r: _api(r, "api_list")),
    ("API get at 100/s: p50 / p99", lambda r: _api(r, "api_get")),
    (
        "a metrics scrape (/metrics): p50 / max (scrapes)",
        lambda r: (
            f"{r['scrape']['p50_ms']:.0f} / {r['scrape']['max_ms']:.0f} ms ({r['scrape']['count']}),"
            f" {r['scrape']['bytes']:,} bytes"
        ),
    ),  # fmt: skip
)


def targets(run: dict) -> list[str]:
    """The targets, judged on one run (the largest size)."""
    claims = run["claims"]
    checks = (
        ("reconciler round under 1 s", run["rounds"]["max_ms"] < ROUND_TARGET_MS),
        (
            "claims in a constant number of statements",
            claims["count"] > 0 and claims["statements_min"] == claims["statements_max"],
        ),  # fmt: skip
        ("API p99 under 50 ms", max(run["api_list"]["p99_ms"], run["api_get"]["p99_ms"]) < API_P99_TARGET_MS),
    )
    return [f"- {name}: {'met' if ok else 'MISSED'}" for name, ok in checks]


def markdown(runs: list[dict], machine: dict) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    columns = " | ".join(f"{r['jobs']:,} jobs" for r in runs)
    head = f"| figure | {columns} |"
    lines = [
        f"# Fleet benchmark ({when})",
        "",
        f"{machine['cores']} cores ({machine['cpu']}), load average {machine['load_average_1min']:.1f};"
        f" {runs[0]['workers'] if runs else 0} simulated workers, a heartbeat every"
        f" {runs[0].get('heartbeat_seconds', float('nan')) if runs else float('nan'):g} s each;"
        " times p50 / p99 unless named.",
        "",
        head,
        "|---" * (len(runs) + 1) + "|",
        *(f"| {name} | {' | '.join(cell(r) for r in runs)} |" for name, cell in ROWS),
    ]
    if runs:
        lines += ["", f"Targets at {runs[-1]['jobs']:,} jobs:", *targets(runs[-1])]
    return "\n".join(lines) + "\n"
