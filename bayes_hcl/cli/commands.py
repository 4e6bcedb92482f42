"""Command line: ``bayes-hcl fit | simulate | demo | report | bench``.

The only module that runs commands or prints (the parser is :mod:`bayes_hcl.cli.parser`).
User errors (bad data, bad options) exit with code 2 and one line ``bayes-hcl: error: ...``;
``fit`` writes its outputs into a temporary folder first, so a failed run leaves nothing
partial in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bayes_hcl.cli.outputs import check_out_folder, replace_folder, write_outputs
from bayes_hcl.cli.parser import BENCH_SUITES, build_parser
from bayes_hcl.data import parse_types
from bayes_hcl.errors import ConfigError, DataError

__all__ = ["BENCH_SUITES", "build_parser", "main", "write_outputs"]


def _join_distributed(args, initialize) -> None:
    """``--distributed``: join the multi-process run; its options alone are an error."""
    given = [
        flag
        for flag, value in (
            ("--coordinator", args.coordinator),
            ("--num-processes", args.num_processes),
            ("--process-id", args.process_id),
        )
        if value is not None
    ]
    if not args.distributed:
        if given:
            raise ConfigError(f"{given[0]} applies only with --distributed")
        return
    try:
        initialize(args.coordinator, args.num_processes, args.process_id)
    except (RuntimeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"could not join the distributed run: {first}") from None


def _fit_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`bayes_hcl.fit` that ``fit``'s options give."""
    return {
        "model": args.model,
        "method": args.method,
        "seed": args.seed,
        "types": parse_types(args.types) if args.types else None,
        "max_clusters": args.max_clusters,
        "latent_factors": args.latent_factors,
        "noise": args.noise,
        "num_steps": args.num_steps,
        "num_restarts": args.num_restarts,
        "num_warmup": args.num_warmup,
        "num_samples": args.num_samples,
        "num_chains": args.num_chains,
        "batch_size": args.batch_size,
        "missing": args.missing,
        "size_factors": args.size_factors,
        "progress": False if args.quiet else None,
    }


def _cmd_fit(args) -> int:
    from bayes_hcl.api import fit
    from bayes_hcl.inference.devices import initialize_distributed, is_main_process

    options = _fit_options(args)
    out = Path(args.out)
    check_out_folder(out)
    _join_distributed(args, initialize_distributed)
    start = time.perf_counter()
    result = fit(args.data, **options)
    if not is_main_process():
        return 0  # every process of a distributed run holds the same result; one writes it
    _write_fit(result, out, ["bayes-hcl", *args.argv], time.perf_counter() - start)
    if not args.quiet:
        print(_type_lines(result))
    note = result.cluster_note()["text"]
    clusters = f"\nclusters: {note}" if note else ""
    print(
        f"{result}{clusters}{_factor_lines(result)}\nidentifiability:\n{_headline(result)}"
        f"\nwrote {out}/"
    )
    return 0


def _write_fit(result, out: Path, command: list[str], wall_s: float) -> None:
    """Write a fit's outputs into a temporary folder beside ``out``, then put it in place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    result.record_metadata("command", " ".join(command))
    extra = {"command": command, "wall_s": wall_s}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        folder = Path(tmp) / out.name
        write_outputs(result, folder, extra)
        replace_folder(folder, out)


def _type_lines(result) -> str:
    """The column types the fit assumed, one line per column (type, likelihood, why), with
    each flag's note on the line below."""
    table = result.column_types()
    rows = [
        (
            str(row["column"]),
            str(row["type"]),
            str(row.get("likelihood", "")).split(",")[0],
            str(row.get("reason", "")),
        )
        for row in table.to_dict("records")
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["column types (declare others with --types NAME=TYPE):"]
    for row, note in zip(rows, table.get("note", [""] * len(rows)), strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
        if note:
            lines.append(f"  {'':{widths[0]}}  note: {note}")
    return "\n".join(lines)


def _headline(result) -> str:
    return "\n".join("  " + line for line in result.identifiability().headline())


def _factor_lines(result) -> str:
    """One line per latent factor (states, what it shifts); empty for a one-factor fit."""
    if not result.factors.several:
        return ""
    lines = "".join(
        f"\n  factor {row.factor}: {row.n_states} states (P = {row.p_n_states:.2f}), "
        f"shifts {', '.join(row.shifts) or 'nothing'}"
        for row in result.factors.table().itertuples()
    )
    return f"\nlatent factors:{lines}"


def _simulated(args: argparse.Namespace):
    """The data ``simulate``'s options ask for: clusters, single-cell counts or factors."""
    from bayes_hcl.simulate import simulate, simulate_factors, simulate_single_cell

    types = {
        "binary_fraction": args.binary_fraction,
        "count_fraction": args.count_fraction,
    }
    mechanisms = {
        "mean_shift": args.mean_shift,
        "weight_change": args.weight_change,
        "noise": args.noise,
    }
    if args.factor_states:
        states = tuple(args.factor_states)
        n = args.n_per_cluster[0] * int(np.prod(states))
        return simulate_factors(
            n, args.d, states, args.factor_targets, **mechanisms, **types, seed=args.seed
        )
    if args.single_cell:
        return simulate_single_cell(args.n_per_cluster[0], args.d, args.clusters, seed=args.seed)
    sizes = args.n_per_cluster[0] if len(args.n_per_cluster) == 1 else args.n_per_cluster
    return simulate(
        sizes,
        d=args.d,
        n_clusters=args.clusters,
        graph=args.graph,
        **mechanisms,
        **types,
        count_overdispersion=args.count_overdispersion,
        categorical_fraction=args.categorical_fraction,
        n_levels=args.n_levels,
        seed=args.seed,
    )


def _cmd_simulate(args) -> int:
    try:
        sim = _simulated(args)
    except ValueError as err:
        raise DataError(str(err)) from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = sim.data
    if sim.library_size is not None:
        frame = frame.assign(library_size=sim.library_size)
    frame.to_csv(out, index=False)
    truth = out.with_name(out.stem + ".truth.json")
    truth.write_text(sim.truth_json())
    print(f"wrote {out} ({len(frame)} rows × {frame.shape[1]} columns) and {truth}")
    return 0


def _cmd_report(args) -> int:
    from bayes_hcl.results.facade import load_result

    source = Path(args.fit_dir) / "posterior.nc"
    if not source.is_file():
        raise FileNotFoundError(
            f"{args.fit_dir!r} holds no posterior.nc: run 'bayes-hcl fit' first"
        )
    out = Path(args.out) if args.out else Path(args.fit_dir) / "report.html"
    print(f"wrote {load_result(source).report(out)}")
    return 0


def _cmd_demo(args) -> int:
    from bayes_hcl.cli.demo import run_demo, run_sachs_demo

    run = run_sachs_demo if args.dataset == "sachs" else run_demo
    print(run(seed=args.seed, progress=not args.quiet))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from bayes_hcl.bench.suites import run_bench

    table = run_bench(
        suite=args.suite,
        out=Path(args.out),
        repeats=args.repeats,
        baselines=not args.no_baselines,
        log=print,
    )
    print(table.to_string(index=False))
    return 0


#: What runs each subcommand of :func:`bayes_hcl.cli.parser.build_parser`.
_COMMANDS = {
    "fit": _cmd_fit,
    "simulate": _cmd_simulate,
    "demo": _cmd_demo,
    "report": _cmd_report,
    "bench": _cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bayes-hcl``; returns the exit code."""
    np.set_printoptions(precision=3, suppress=True)
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return _COMMANDS[args.command](args)
    except (DataError, ConfigError, FileNotFoundError, ImportError) as err:
        message = " ".join(str(err).split())
        print(f"bayes-hcl: error: {message}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        message = " ".join(str(err).split())
        print(f"bayes-hcl: numerical failure: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # outputs are written to a temporary folder and moved in at the end: nothing partial
        print(
            "bayes-hcl: interrupted; outputs are moved into --out only once complete",
            file=sys.stderr,
        )
        return 130
