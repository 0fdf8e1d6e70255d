"""The compact table ``make bench`` prints: one section per measure, with its target and PASS/FAIL."""

from __future__ import annotations

from typing import Any

from bench.support import verdict


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  " + "  ".join(cells).rstrip()

    return [line(header), "  " + "  ".join("-" * width for width in widths), *(line(row) for row in rows)]


def _aws(results: dict[str, Any]) -> list[str]:
    lines = ["1. AWS API calls per sync run (executor on moto; apps = create run + invoke executor)"]
    rows = []
    for count in results["node_counts"]:
        runs = results["runs"][str(count)]
        for kind in ("first_run", "warm_run"):
            run, calls = runs[kind], results["credential_calls"][str(count)][kind]
            by_function = run["by_function"]
            rows.append(
                [
                    f"{count} http nodes, {kind.replace('_', ' ')}",
                    str(run["total"]),
                    *(str(by_function.get(name, 0)) for name in ("apps", "executor", "credentials")),
                    *(str(calls.get(op, 0)) for op in results["credential_operations"]),
                ]
            )
    header = ["run", "total", "apps", "executor", "credentials", "BatchGetItem", "BatchGetSecretValue"]
    lines += _table(header, rows)
    warm = results["runs"][str(results["node_counts"][0])]["warm_run"]["by_operation"]
    lines.append("  warm 3-node run by type: " + ", ".join(f"{op} {n}" for op, n in warm.items()))
    lines.append(
        "  target: credential resolution O(1) in nodes -> "
        f"{verdict(results['credential_resolution_constant'])}"
        f" (same calls for {', '.join(map(str, results['node_counts']))} nodes)"
    )
    lines.append(
        f"  target (an earlier issue, before runs were durable): warm sync run of the 3-node workflow"
        f" <= {results['warm_sync_run_target']} calls -> {results['warm_sync_run_calls']}"
        f" {verdict(results['warm_sync_run_pass'])}"
    )
    lines.append("  per warm sync run, the run as a durable execution (checkpoints are Lambda API calls):")
    rows = [
        [name, str(run["aws_calls"]), str(run["checkpoint_calls"]), str(run["durable_operations"])]
        for name, run in results["per_run"].items()
    ]
    lines += _table(["workflow", "AWS calls", "of them checkpoints", "durable operations"], rows)
    return lines


def _engine(results: dict[str, Any]) -> list[str]:
    lines = ["2. Engine overhead per no-op node (ms: median (min-max); execute() only, graphs prebuilt)"]
    rivals = results["rivals"]
    local = results["switchboard_venv"]
    rows = [_engine_row(f"switchboard (.venv, pydantic {local['pydantic']})", local, None)]
    if "error" in rivals:
        lines += _table(["engine", "chain_500", "fan_out_100", "import"], rows)
        lines.append(f"  comparison not run: {rivals['error'][:300]}")
        return [*lines, "  target: lower than langgraph and dynamiq on both shapes -> FAIL (not measured)"]
    same = f"switchboard (comparison venv, pydantic {rivals['pydantic']})"
    rows.append(_engine_row(same, rivals["switchboard"], None))
    langgraph, dynamiq = rivals["langgraph"], rivals["dynamiq"]
    rows.append(_engine_row(f"langgraph {langgraph['version']}", langgraph, langgraph["fresh_import"]))
    for variant in ("pass_jsonpath", "function_tool"):
        name = f"dynamiq {dynamiq['version']} {variant}"
        rows.append(_engine_row(name, dynamiq[variant], dynamiq["fresh_import"]))
    lines += _table(["engine", "chain_500", "fan_out_100", "import (fresh process)"], rows)
    for shape, shape_verdict in results["verdicts"].items():
        best = ", ".join(
            f"{name} {value:.3f}" for name, value in shape_verdict["best_per_library_ms"].items()
        )
        lines.append(
            f"  {shape}: switchboard {shape_verdict['switchboard_ms']:.3f} vs best {best}"
            f" -> {verdict(shape_verdict['pass'])}"
        )
    scaling = ", ".join(f"{length}: {ms:.3f}" for length, ms in results["scaling_chain_ms_per_node"].items())
    lines.append(f"  switchboard chain ms/node by length (flat = linear scheduling): {scaling}")
    for shape, profile in results.get("profiles", {}).items():
        lines += _profile_lines(shape, profile)
    lines.append(f"  target: lower than langgraph and dynamiq on both shapes -> {verdict(results['pass'])}")
    return lines


def _profile_lines(shape: str, profile: dict[str, Any]) -> list[str]:
    lines = []
    for thread in ("scheduler", "workers"):
        part = profile[thread]
        lines.append(
            f"  profile of one {shape} run, {thread} thread(s): {part['total_ms']:.0f} ms own time"
            f" ({part['per_node_ms']:.3f} ms/node, under cProfile), top:"
        )
        lines += [
            f"    {row['own_share']:>5.0%}  {row['own_ms']:>7.1f} ms  {row['calls']:>7} calls"
            f"  {row['function']}"
            for row in part["top_by_own_time"][:5]
        ]
    return lines


def _spread(measured: dict[str, Any]) -> str:
    return f"{measured['median_ms']:.3f} ({measured['min_ms']:.3f}-{measured['max_ms']:.3f})"


def _engine_row(name: str, measured: dict[str, Any], imported: dict[str, Any] | None) -> list[str]:
    cells = [_spread(measured[shape]) if shape in measured else "-" for shape in ("chain_500", "fan_out_100")]
    return [name, *cells, f"{imported['median_s']:.2f} s" if imported else "-"]


def _parallel(results: dict[str, Any]) -> list[str]:
    lines = [
        f"3. {results['nodes']} parallel http nodes, target waits {results['delay_ms']:.0f} ms"
        " (wall ms, median)"
    ]
    series = [
        ("engine default", "default_workers"),
        ("one worker per node", "one_worker_per_node"),
        ("diagnostic: one SSL context, default workers", "diagnostic_one_ssl_context_default_workers"),
        ("diagnostic: one SSL context, one worker per node", "diagnostic_one_ssl_context"),
    ]
    rows = [
        [
            label,
            str(results[key]["max_workers"]),
            f"{results[key]['median_ms']:.0f}",
            verdict(results[key]["pass"]),
        ]
        for label, key in series
    ]
    lines += _table(["configuration", "max_workers", "wall ms", f"< {results['target_ms']:.0f}"], rows)
    lines.append(
        f"  a new httpx.Client (SSL context) costs {results['client_construction_ms']:.1f} ms"
        " of CPU per request"
    )
    lines.append(
        f"  target: < {results['target_ms']:.0f} ms with the engine's default -> {verdict(results['pass'])}"
    )
    return lines


def _imports(results: dict[str, Any]) -> list[str]:
    baseline = results["boto3"]["median_ms"]
    lines = [
        f"4. Cold import of each handler (fresh process, bytecode precompiled as deployed, median of"
        f" {results['repetitions']}); import boto3 = {baseline:.0f} ms"
    ]
    rows = []
    for name, entry in results["functions"].items():
        api = "pass" in entry
        ratio = verdict(entry["ratio_pass"]) if api else "(not API-facing)"
        over = f"{entry['over_floor_ms']:.0f}" + (f" {verdict(entry['over_floor_pass'])}" if api else "")
        rows.append([name, f"{entry['median_ms']:.0f}", f"{entry['ratio_to_boto3']:.2f}x", ratio, over])
    floor = results["stack_floor"]
    rows.append(["(stack floor)", f"{floor['median_ms']:.0f}", f"{floor['ratio_to_boto3']:.2f}x", "-", "-"])
    for name, part in floor["parts"].items():
        rows.append([f"({name})", f"{part['median_ms']:.0f}", f"{part['ratio_to_boto3']:.2f}x", "-", "-"])
    over_header = f"ms over floor (<= {results['over_floor_target_ms']:.0f})"
    lines += _table(["function", "ms", "vs boto3", f"<= {results['target_ratio']}x", over_header], rows)
    lines.append(
        "  stack floor: boto3 + Powertools logger, metrics and APIGatewayHttpResolver(enable_validation=True)"
        " + one pydantic model, none of our code (bench/stack_floor)"
    )
    if results["floor_over_target"]:
        lines.append(
            f"  the floor alone is over {results['target_ratio']}x: the target is out of reach of any handler"
            " in this stack"
        )
    for name, entry in results["functions"].items():
        if "heaviest_packages" in entry:
            heavy = ", ".join(f"{p['package']} {p['share']:.0%}" for p in entry["heaviest_packages"][:6])
            lines.append(f"  {name} spends its import in: {heavy}")
    lines.append(
        f"  target: API-facing functions <= {results['target_ratio']}x import boto3 and at most"
        f" {results['over_floor_target_ms']:.0f} ms over the stack floor -> {verdict(results['pass'])}"
    )
    return lines


def _operations(operations: dict[str, int]) -> str:
    return ", ".join(f"{operation} {count}" for operation, count in operations.items()) or "-"


def _apps_calls(results: dict[str, Any]) -> list[str]:
    calls = results["aws_calls"]
    lines = [
        f"5. AWS API calls per warm sync run of the {results['node_count']}-node workflow through the"
        " Apps API (POST /v1/runs with an access key, local stack over HTTP)"
    ]
    warm = calls["warm_run"]
    rows = [(name, warm["by_function"][name], operations) for name, operations in warm["detail"].items()]
    rows.append(("total", warm["total"], warm["by_operation"]))
    width = max(len(name) for name, _, _ in rows)
    lines += [
        f"  {name.ljust(width)}  {count:>3}  {_operations(operations)}" for name, count, operations in rows
    ]
    first = calls["first_run"]
    lines.append(f"  first run (empty caches): {first['total']} calls: {_operations(first['by_operation'])}")
    outside = sum(warm["outside_functions"].values())
    lines.append(
        f"  not counted: {outside} calls outside any function (the local stack saving its state file,"
        " its queue pollers; AWS makes none)"
    )
    lines.append(
        f"  target: <= {results['warm_sync_run_target']} calls -> {results['warm_sync_run_calls']}"
        f" {verdict(results['warm_sync_run_pass'])}"
    )
    return lines


def _apps_latency(results: dict[str, Any]) -> list[str]:
    latency = results["latency"]
    runs = results["runs"]
    lines = [
        "6. End-to-end latency of that run over HTTP vs a bare handler returning a constant"
        f" (ms; {runs['timed']} runs after {runs['warm_up']} warm-ups)"
    ]
    labels = {
        "as_served": "as served",
        "without_local_artifacts": "without local artifacts (no state save, TCP_NODELAY)",
    }
    rows = []
    for series, label in labels.items():
        platform, bare = latency["platform"][series], latency["bare"][series]
        overhead = latency[f"overhead_{series}"]
        rows.append(
            [
                label,
                f"{platform['median_ms']:.1f}",
                f"{platform['p95_ms']:.1f}",
                f"{bare['median_ms']:.1f}",
                f"{bare['p95_ms']:.1f}",
                f"{overhead['median_ms']:.1f}",
                f"{overhead['ratio_median']:.1f}x",
                f"{overhead['inside_aws_calls_median_ms']:.1f}",
                f"{overhead['outside_aws_calls_median_ms']:.1f}",
            ]
        )
    header = [
        "series",
        "platform p50",
        "p95",
        "bare p50",
        "p95",
        "overhead p50",
        "ratio",
        "in AWS calls",
        "ours",
    ]
    lines += _table(header, rows)
    save = results["state_save_ms"]
    lines.append(
        f"  the local stack's state save after each write: median {save['median_ms']:.0f} ms,"
        f" p95 {save['p95_ms']:.0f} ms, max {save['max_ms']:.0f} ms"
        f" ({save['runs']} saves; it grows with the data)"
    )
    lines.append(
        "  in AWS calls: median time per run inside its AWS calls (moto here, DynamoDB on AWS); ours: the"
        " overhead outside them"
    )
    overhead = latency["overhead_without_local_artifacts"]["outside_aws_calls_median_ms"]
    lines.append(
        "  target: platform overhead outside AWS calls (without local artifacts, median)"
        f" <= {results['overhead_target_ms']:.0f} ms -> {overhead:.1f} ms {verdict(results['overhead_pass'])}"
    )
    return lines


def _durable(results: dict[str, Any]) -> list[str]:
    lines = [
        "7. Engine overhead per no-op node with checkpointing on (the executor as a durable execution on the"
        " local durable execution service, runs stored on moto; ms/node outside AWS calls, median)"
    ]
    rows = []
    for shape, measured in results["shapes"].items():
        found = results.get("verdicts", {}).get(shape, {})
        theirs = found.get("langgraph_ms", {})
        ratios = found.get("ratios", {})
        rows.append(
            [
                shape,
                f"{measured['own_per_node_ms']:.3f}",
                f"{measured['engine_per_node_ms']:.3f}",
                _ms(theirs.get("langgraph")),
                _ms(theirs.get("langgraph_checkpointed")),
                _ratios(ratios.get("own")),
                _ratios(ratios.get("engine")),
            ]
        )
    header = [
        "shape",
        "all own",
        "engine phase",
        "langgraph",
        "langgraph+saver",
        "all own: x below",
        "engine: x below",
    ]
    lines += _table(header, rows)
    lines.append(
        "  all own: the engine plus storing each node's 2 events, span and result (outside the DynamoDB"
        " calls); engine phase: the supersteps with the durable driver; cheap nodes are checkpointed with"
        " the next step"
    )
    lines.append(
        f"  target: all own time >= {results['target_ratio']:.0f}x below langgraph (plain and with its"
        f" in-memory saver) -> {verdict(results.get('pass', False))}"
    )
    return lines


def _ms(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _ratios(ratios: dict[str, float | None] | None) -> str:
    if not ratios:
        return "-"
    return " / ".join(f"{value:.1f}x" if value is not None else "-" for value in ratios.values())


def _recovery(results: dict[str, Any]) -> list[str]:
    lines = [
        f"8. Recovery after kill -9 mid-node and a restart on the same state file (median of"
        f" {len(results['samples'])})"
    ]
    lines += _table(
        ["restart -> ready", "ready -> run completed", "restart -> run completed", "worst"],
        [
            [
                f"{results['restart_to_ready_s']:.2f} s",
                f"{results['ready_to_completed_s']:.2f} s",
                f"{results['restart_to_completed_s']:.2f} s",
                f"{results['worst_restart_to_completed_s']:.2f} s",
            ]
        ],
    )
    lines.append(
        f"  target: every run in flight terminal within {results['budget_s']:.0f} s of the restart"
        f" -> {verdict(results['pass'])}"
    )
    return lines


def _cross_caller(results: dict[str, Any]) -> list[str]:
    lines = [
        "9. Another caller's GET /v1/me on the local stack while a node computes {{ (3**30000000) % 7 }}"
        f" ({results['calls_during']} calls; alone: median {results['baseline_median_ms']:.1f} ms)"
    ]
    lines += _table(
        ["added delay median", "p95", "worst", "heavy node", "ended after"],
        [
            [
                f"{results['delay_median_ms']:.1f} ms",
                f"{results['delay_p95_ms']:.1f} ms",
                f"{results['delay_max_ms']:.1f} ms",
                f"{results['heavy_status']} {results['heavy_error'] or ''}".strip(),
                f"{results['heavy_seconds']:.2f} s (timeout {results['timeout_s']} s)",
            ]
        ],
    )
    lines.append(
        f"  target: p95 added delay < {results['target_ms']:.0f} ms, the node ends timeout"
        f" -> {verdict(results['pass'])}"
    )
    return lines


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _capacity(results: dict[str, Any]) -> list[str]:
    from bench.capacity import APP_RUNS_TARGET, RESOLUTIONS_TARGET, RUNS_TARGET_COST, USERS_TARGET_COST

    inputs, figures, today = results["inputs"], results["figures"], results["credential_design"]
    lines = [
        f"10. Capacity and cost ({inputs['region']}, prices and quotas of {inputs['checked']} in bench/"
        f"{inputs['path']}; a warm sync run of 3 http nodes: {figures['durable_operations']} durable"
        f" operations, {figures['write_units']:.0f} WRU, {figures['read_units']:.0f} RRU, run item"
        f" {figures['run_item_bytes']} B written {figures['run_item_writes']} times)"
    ]
    designs = results["designs"]
    rows = []
    for workload in designs[today]["cost_per_million_runs"]:
        rows.append(
            [f"per 1 M runs, {workload}"]
            + [_money(designs[d]["cost_per_million_runs"][workload]["total"]) for d in designs]
        )
    for users in ("10000", "1000000"):
        rows.append(
            [f"a month, {int(users):,} linked users"]
            + [_money(designs[d]["monthly_cost_of_links"][users]) for d in designs]
        )
    rows.append(
        ["credential resolutions/s per region"]
        + [f"{min(designs[d]['resolutions_per_second'].values()):,.0f}" for d in designs]
    )
    rows.append(["  bound by"] + [designs[d]["resolutions_binding"] for d in designs])
    lines += _table(["", *designs], rows)
    lines.append(
        f"  runs/s for one App: {results['app_runs_per_second']:,.0f} by partition arithmetic"
        f" ({figures['app_run_shards']} shard); the quota that binds first: {results['app_runs_binding']}"
    )
    no_llm = designs[today]["cost_per_million_runs"]["no LLM"]
    lines.append(
        "  per 1 M runs without LLM, by line: "
        + ", ".join(f"{name} {_money(amount)}" for name, amount in no_llm.items() if name != "total")
    )
    floor = designs[today]["floor_per_million_runs"]
    lines.append(
        f"  the least 1 M such runs can cost with a checkpoint per calling node: {_money(floor['total'])} ("
        + ", ".join(f"{name} {_money(amount)}" for name, amount in floor.items() if name != "total")
        + ")"
    )
    verdicts = designs[today]["verdicts"]
    lines.append(
        f"  targets ({today}, today's credential design):"
        f" <= {_money(RUNS_TARGET_COST)} per 1 M runs without LLM -> {verdict(verdicts['runs_cost'])}"
        f" (reachable: {'yes' if floor['total'] <= RUNS_TARGET_COST else 'no, it is below the floor'});"
        f" <= {_money(USERS_TARGET_COST)} a month for 1 M linked users -> {verdict(verdicts['users_cost'])};"
        f" >= {APP_RUNS_TARGET:,.0f} runs/s per App -> {verdict(verdicts['app_runs'])};"
        f" >= {RESOLUTIONS_TARGET:,.0f} resolutions/s per region -> {verdict(verdicts['resolutions'])}"
    )
    return lines


def render(results: dict[str, Any]) -> str:
    sections = [
        _aws(results["aws_calls"]),
        _engine(results["engine"]),
        _parallel(results["parallel_http"]),
        _imports(results["cold_import"]),
    ]
    if "runtime_api" in results:
        sections += [_apps_calls(results["runtime_api"]), _apps_latency(results["runtime_api"])]
    if "durable_engine" in results:
        sections.append(_durable(results["durable_engine"]))
    if "recovery" in results:
        sections.append(_recovery(results["recovery"]))
    if "cross_caller" in results:
        sections.append(_cross_caller(results["cross_caller"]))
    if "capacity" in results:
        sections.append(_capacity(results["capacity"]))
    summary = ", ".join(f"{name} {verdict(passed)}" for name, passed in results["summary"].items())
    footer = [f"summary: {summary}; {results['seconds']:.0f} s; results in {results['path']}"]
    return "\n\n".join("\n".join(section) for section in [*sections, footer])
