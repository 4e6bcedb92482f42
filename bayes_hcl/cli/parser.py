"""The ``bayes-hcl`` argument parser: one builder per subcommand, options in named groups.

Parsing errors are :class:`~bayes_hcl.errors.DataError` (one line, exit code 2), as for every
user error; :mod:`bayes_hcl.cli.commands` runs what was parsed.
"""

from __future__ import annotations

import argparse

from bayes_hcl.bench.registry import SUITE_TABLE, SUITES
from bayes_hcl.config import NOISE_FAMILIES, available_presets
from bayes_hcl.errors import DataError
from bayes_hcl.simulate.draws import GRAPH_KINDS, NOISE_KINDS

__all__ = ["BENCH_SUITES", "OneLineErrorParser", "build_parser"]

#: The suites of ``bayes-hcl bench``: the names of the suite table
#: (``bayes_hcl.bench.registry``, which imports no JAX, so ``--help`` stays fast).
BENCH_SUITES = SUITES


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line :class:`DataError` (exit code 2)."""

    def error(self, message: str):
        raise DataError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-hcl`` argument parser (also read by the docs' CLI reference)."""
    parser = OneLineErrorParser(
        prog="bayes-hcl", description="Bayesian heterogeneous causal discovery"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)
    _add_fit(sub)
    _add_simulate(sub)
    _add_demo(sub)
    _add_report(sub)
    _add_bench(sub)
    return parser


# --------------------------------------------------------------------------------- fit
def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the model to a CSV and write the posterior summaries")
    p.add_argument("data", help="CSV file, one column per variable, one row per sample")
    p.add_argument("--out", required=True, help="output folder")
    _fit_data_options(p.add_argument_group("data"))
    _fit_model_options(p.add_argument_group("model"))
    _fit_inference_options(p.add_argument_group("inference"))
    _fit_distributed_options(p.add_argument_group("several processes (jax.distributed)"))


def _fit_data_options(group) -> None:
    group.add_argument(
        "--types",
        default="",
        help=(
            "type overrides (continuous, binary, count, categorical, ordinal, poisson, "
            "negative_binomial), e.g. smoker=binary,visits=count,stage=categorical; "
            "NAME=ordinal:A<B<C declares an ordinal column with its levels lowest first "
            "(quote it in a shell: 'grade=ordinal:low<mid<high')"
        ),
    )
    group.add_argument(
        "--missing",
        default="error",
        choices=("error", "mask"),
        help="missing cells: refuse them (default) or mask their likelihood terms (MAR)",
    )
    group.add_argument(
        "--size-factors",
        default=None,
        help="count offsets: 'total' (row totals), a column name, or 'none' (preset default)",
    )


def _fit_model_options(group) -> None:
    group.add_argument(
        "--model",
        default="hcl",
        help=f"preset name ({', '.join(available_presets())}) or path to a .toml",
    )
    group.add_argument(
        "--max-clusters",
        type=int,
        default=None,
        help="DP truncation K_max (with --latent-factors: states per factor)",
    )
    group.add_argument(
        "--latent-factors",
        type=int,
        default=None,
        metavar="M",
        help="independent hidden sources, each shifting its own variables (preset factorial: 2);"
        " also writes factors.json and factors/<m>/memberships.csv",
    )
    group.add_argument(
        "--noise",
        choices=NOISE_FAMILIES,
        default=None,
        help="noise law of continuous variables (default preset: skew_t, learned tails and "
        "skew per variable; gaussian for --method gibbs)",
    )


def _method_name(text: str) -> str:
    """``--method``'s value in lower case: method names are case-insensitive (``api.fit``
    checks the name, so ``--help`` need not import the inference methods)."""
    return text.strip().lower()


def _fit_inference_options(group) -> None:
    group.add_argument(
        "--method",
        default="svi",
        type=_method_name,
        help="svi (fast, approximate), nuts (SVI start, then NUTS with order moves) or gibbs "
        "(SVI start, then collapsed Gibbs with order moves; continuous data); case-insensitive",
    )
    group.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result)")
    group.add_argument("--num-steps", type=int, default=None, help="SVI steps")
    group.add_argument("--num-restarts", type=int, default=None, help="vmapped SVI restarts")
    group.add_argument("--num-warmup", type=int, default=None, help="NUTS/Gibbs warm-up per chain")
    group.add_argument(
        "--num-samples", type=int, default=None, help="draws (SVI) or per chain (NUTS/Gibbs)"
    )
    group.add_argument("--num-chains", type=int, default=None, help="NUTS/Gibbs chains")
    group.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per SVI step (default: all rows up to 50,000, minibatches of 4,096 above)",
    )
    group.add_argument(
        "--quiet", action="store_true", help="no progress bar and no column-type table"
    )


def _fit_distributed_options(group) -> None:
    group.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run (jax.distributed; see docs/performance.md)",
    )
    group.add_argument("--coordinator", default=None, help="with --distributed: HOST:PORT")
    group.add_argument("--num-processes", type=int, default=None, help="with --distributed")
    group.add_argument("--process-id", type=int, default=None, help="with --distributed")


# ---------------------------------------------------------------------------- simulate
def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="write simulated data and its ground truth (JSON)")
    p.add_argument("--out", required=True, help="CSV path; the truth goes to <stem>.truth.json")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _simulate_sem_options(p.add_argument_group("clusters and mechanisms"))
    _simulate_type_options(p.add_argument_group("variable types"))
    _simulate_generator_options(p.add_argument_group("other generators"))


def _simulate_sem_options(group) -> None:
    group.add_argument(
        "--n-per-cluster", type=int, nargs="+", default=[500], help="rows of each cluster"
    )
    group.add_argument("--d", type=int, default=10, help="number of variables")
    group.add_argument("--clusters", type=int, default=2, help="number of clusters")
    group.add_argument("--graph", default="er", choices=GRAPH_KINDS, help="random DAG family")
    group.add_argument(
        "--noise", default="gaussian", choices=NOISE_KINDS, help="noise law of every variable"
    )
    group.add_argument(
        "--mean-shift",
        type=float,
        default=2.0,
        help="intercept shift of shift targets, in noise sds",
    )
    group.add_argument(
        "--weight-change",
        type=float,
        default=0.3,
        help="chance a universal edge changes weight per cluster",
    )


def _simulate_type_options(group) -> None:
    group.add_argument(
        "--binary-fraction", type=float, default=0.0, help="share of variables made binary"
    )
    group.add_argument(
        "--count-fraction", type=float, default=0.0, help="share of variables made counts"
    )
    group.add_argument(
        "--count-overdispersion",
        type=float,
        default=0.0,
        help="NB2 overdispersion of the counts (0: Poisson)",
    )
    group.add_argument(
        "--categorical-fraction",
        type=float,
        default=0.0,
        help="share of variables made categorical (levels written as a, b, ...)",
    )
    group.add_argument(
        "--n-levels", type=int, default=3, help="levels of each categorical variable"
    )


def _simulate_generator_options(group) -> None:
    group.add_argument(
        "--single-cell",
        action="store_true",
        help=(
            "single-cell-like counts instead: --d genes, --clusters cell states, the first "
            "--n-per-cluster cells in all, a library_size column (see simulate_single_cell)"
        ),
    )
    group.add_argument(
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
    group.add_argument(
        "--factor-targets", type=int, default=3, help="variables each factor changes"
    )


# ------------------------------------------------------------------- demo, report, bench
def _add_demo(sub) -> None:
    demo = sub.add_parser("demo", help="fit built-in data and compare with what is known")
    demo.add_argument(
        "--dataset",
        choices=("simulated", "sachs"),
        default="simulated",
        help="simulated two-cluster mixture (default) or the Sachs flow-cytometry data",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_report(sub) -> None:
    rep = sub.add_parser("report", help="write the HTML report of a fit written by 'fit'")
    rep.add_argument("fit_dir", help="folder written by 'bayes-hcl fit' (reads posterior.nc)")
    rep.add_argument("--out", default=None, help="HTML file (default: FIT_DIR/report.html)")


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
