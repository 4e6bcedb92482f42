"""Command line: ``bayes-hcl fit | simulate | demo | report | bench``.

The only module that parses arguments or prints. User errors (bad data, bad options) exit
with code 2 and one line ``bayes-hcl: error: ...``; ``fit`` writes its outputs into a
temporary folder first, so a failed run leaves nothing partial in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bayes_hcl.bench.registry import SUITE_TABLE, SUITES
from bayes_hcl.cli.outputs import check_out_folder, replace_folder, write_outputs
from bayes_hcl.config import available_presets
from bayes_hcl.data import parse_types
from bayes_hcl.errors import ConfigError, DataError
from bayes_hcl.simulate.sem import NOISE_KINDS

__all__ = ["BENCH_SUITES", "build_parser", "main", "write_outputs"]

#: The suites of ``bayes-hcl bench``: the names of the suite table
#: (``bayes_hcl.bench.registry``, which imports no JAX, so ``--help`` stays fast).
BENCH_SUITES = SUITES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, as for every user error
        raise DataError(message)


def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the model to a CSV and write the posterior summaries")
    p.add_argument("data", help="CSV file, one column per variable, one row per sample")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--model",
        default="hcl",
        help=f"preset name ({', '.join(available_presets())}) or path to a .toml",
    )
    p.add_argument(
        "--method",
        default="svi",
        help="svi (fast, approximate) or nuts (SVI start, then NUTS with order moves)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    p.add_argument(
        "--max-clusters",
        type=int,
        default=None,
        help="DP truncation K_max (with --latent-factors: states per factor)",
    )
    p.add_argument(
        "--latent-factors",
        type=int,
        default=None,
        metavar="M",
        help="independent hidden sources, each shifting its own variables (preset factorial: 2);"
        " also writes factors.json and factors/<m>/memberships.csv",
    )
    p.add_argument(
        "--types",
        default="",
        help=(
            "type overrides (continuous, binary, count, categorical, ordinal, poisson, "
            "negative_binomial), e.g. smoker=binary,visits=count,stage=categorical"
        ),
    )
    p.add_argument(
        "--missing",
        default="error",
        choices=("error", "mask"),
        help="missing cells: refuse them (default) or mask their likelihood terms (MAR)",
    )
    p.add_argument(
        "--size-factors",
        default=None,
        help="count offsets: 'total' (row totals), a column name, or 'none' (preset default)",
    )
    p.add_argument("--num-steps", type=int, default=None, help="SVI steps")
    p.add_argument("--num-restarts", type=int, default=None, help="vmapped SVI restarts")
    p.add_argument("--num-warmup", type=int, default=None, help="NUTS warm-up per chain")
    p.add_argument("--num-samples", type=int, default=None, help="draws (SVI) or per chain (NUTS)")
    p.add_argument("--num-chains", type=int, default=None, help="NUTS chains")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per SVI step (default: all rows up to 50,000, minibatches of 4,096 above)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run (jax.distributed; see docs/performance.md)",
    )
    p.add_argument("--coordinator", default=None, help="with --distributed: HOST:PORT")
    p.add_argument("--num-processes", type=int, default=None, help="with --distributed")
    p.add_argument("--process-id", type=int, default=None, help="with --distributed")


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="write simulated data and its ground truth (JSON)")
    p.add_argument("--out", required=True, help="CSV path; the truth goes to <stem>.truth.json")
    p.add_argument(
        "--n-per-cluster", type=int, nargs="+", default=[500], help="rows of each cluster"
    )
    p.add_argument("--d", type=int, default=10, help="number of variables")
    p.add_argument("--clusters", type=int, default=2, help="number of clusters")
    p.add_argument("--graph", default="er", choices=["er", "scale_free"], help="random DAG family")
    p.add_argument(
        "--noise", default="gaussian", choices=NOISE_KINDS, help="noise law of every variable"
    )
    p.add_argument(
        "--mean-shift",
        type=float,
        default=2.0,
        help="intercept shift of shift targets, in noise sds",
    )
    p.add_argument(
        "--weight-change",
        type=float,
        default=0.3,
        help="chance a universal edge changes weight per cluster",
    )
    p.add_argument(
        "--binary-fraction", type=float, default=0.0, help="share of variables made binary"
    )
    p.add_argument(
        "--count-fraction", type=float, default=0.0, help="share of variables made counts"
    )
    p.add_argument(
        "--count-overdispersion",
        type=float,
        default=0.0,
        help="NB2 overdispersion of the counts (0: Poisson)",
    )
    p.add_argument(
        "--categorical-fraction",
        type=float,
        default=0.0,
        help="share of variables made categorical (levels written as a, b, ...)",
    )
    p.add_argument("--n-levels", type=int, default=3, help="levels of each categorical variable")
    p.add_argument(
        "--single-cell",
        action="store_true",
        help=(
            "single-cell-like counts instead: --d genes, --clusters cell states, the first "
            "--n-per-cluster cells in all, a library_size column (see simulate_single_cell)"
        ),
    )
    p.add_argument(
        "--factor-states",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help=(
            "independent hidden factors instead of clusters, with these numbers of states "
            "(e.g. 2 2); --n-per-cluster rows per joint state (see simulate_factors)"
        ),
    )
    p.add_argument("--factor-targets", type=int, default=3, help="variables each factor changes")
    p.add_argument("--seed", type=int, default=0, help="random seed")


def _suite_list() -> str:
    """The ``bench`` help's list of suites, one line each, from the suite table."""
    width = max(len(suite.name) for suite in SUITE_TABLE)
    lines = [f"  {suite.name:<{width}}  {suite.description}" for suite in SUITE_TABLE]
    return "suites:\n" + "\n".join(lines)


def _add_bench(sub) -> None:
    """``bench``: its options, and the suites with their descriptions after them."""
    bench = sub.add_parser(
        "bench",
        help="run the synthetic benchmark suite",
        epilog=_suite_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--out", default="bench_results", help="folder for results.csv/json")
    bench.add_argument(
        "--suite",
        default="quick",
        choices=BENCH_SUITES,
        help="which suite (listed below; see bayes_hcl.bench.run_bench)",
    )
    bench.add_argument("--repeats", type=int, default=1, help="seeds per setting")
    bench.add_argument(
        "--no-baselines", action="store_true", help="skip the causal-learn baselines"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-hcl`` argument parser (also read by the docs' CLI reference)."""
    parser = _Parser(prog="bayes-hcl", description="Bayesian heterogeneous causal discovery")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_fit(sub)
    _add_simulate(sub)
    demo = sub.add_parser("demo", help="fit built-in data and compare with what is known")
    demo.add_argument(
        "--dataset",
        choices=("simulated", "sachs"),
        default="simulated",
        help="simulated two-cluster mixture (default) or the Sachs flow-cytometry data",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    rep = sub.add_parser("report", help="write the HTML report of a fit written by 'fit'")
    rep.add_argument("fit_dir", help="folder written by 'bayes-hcl fit' (reads posterior.nc)")
    rep.add_argument("--out", default=None, help="HTML file (default: FIT_DIR/report.html)")
    _add_bench(sub)
    return parser


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


def _cmd_fit(args) -> int:
    from bayes_hcl.api import fit
    from bayes_hcl.inference.devices import initialize_distributed, is_main_process

    types = parse_types(args.types) if args.types else None
    out = Path(args.out)
    check_out_folder(out)
    _join_distributed(args, initialize_distributed)
    start = time.perf_counter()
    result = fit(
        args.data,
        model=args.model,
        method=args.method,
        seed=args.seed,
        types=types,
        max_clusters=args.max_clusters,
        latent_factors=args.latent_factors,
        num_steps=args.num_steps,
        num_restarts=args.num_restarts,
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        num_chains=args.num_chains,
        batch_size=args.batch_size,
        missing=args.missing,
        size_factors=args.size_factors,
        progress=False if args.quiet else None,
    )
    if not is_main_process():
        return 0  # every process of a distributed run holds the same result; one writes it
    out.parent.mkdir(parents=True, exist_ok=True)
    command = ["bayes-hcl", *args.argv]
    result._record("command", " ".join(command))
    extra = {"command": command, "wall_s": time.perf_counter() - start}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        folder = Path(tmp) / out.name
        write_outputs(result, folder, extra)
        replace_folder(folder, out)
    headline = "\n".join("  " + line for line in result.identifiability().headline())
    factors = ""
    if result.factors.several:
        factors = "".join(
            f"\n  factor {row.factor}: {row.n_states} states (P = {row.p_n_states:.2f}), "
            f"shifts {', '.join(row.shifts) or 'nothing'}"
            for row in result.factors.table().itertuples()
        )
        factors = f"\nlatent factors:{factors}"
    print(f"{result}{factors}\nidentifiability:\n{headline}\nwrote {out}/")
    return 0


def _cmd_simulate(args) -> int:
    from bayes_hcl.simulate.cells import simulate_single_cell
    from bayes_hcl.simulate.sem import simulate

    sizes = args.n_per_cluster[0] if len(args.n_per_cluster) == 1 else args.n_per_cluster
    try:
        if args.factor_states:
            from bayes_hcl.simulate.factors import simulate_factors

            states = tuple(args.factor_states)
            sim = simulate_factors(
                args.n_per_cluster[0] * int(np.prod(states)),
                args.d,
                states,
                args.factor_targets,
                mean_shift=args.mean_shift,
                weight_change=args.weight_change,
                noise=args.noise,
                binary_fraction=args.binary_fraction,
                count_fraction=args.count_fraction,
                seed=args.seed,
            )
        elif args.single_cell:
            sim = simulate_single_cell(args.n_per_cluster[0], args.d, args.clusters, seed=args.seed)
        else:
            sim = simulate(
                sizes,
                d=args.d,
                n_clusters=args.clusters,
                graph=args.graph,
                noise=args.noise,
                mean_shift=args.mean_shift,
                weight_change=args.weight_change,
                binary_fraction=args.binary_fraction,
                count_fraction=args.count_fraction,
                count_overdispersion=args.count_overdispersion,
                categorical_fraction=args.categorical_fraction,
                n_levels=args.n_levels,
                seed=args.seed,
            )
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bayes-hcl``; returns the exit code."""
    np.set_printoptions(precision=3, suppress=True)
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        handler = {
            "fit": _cmd_fit,
            "simulate": _cmd_simulate,
            "demo": _cmd_demo,
            "report": _cmd_report,
            "bench": _cmd_bench,
        }[args.command]
        return handler(args)
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
