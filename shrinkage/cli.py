"""Command line: ``python -m shrinkage {data,fit,animate,study} [options]``.

Every bad setting ends with exit status 2 and one line on standard error that
names the parameter; a fit that does not converge ends with exit status 1.
"""

import argparse
import json
import os
import sys
from dataclasses import fields

from . import __version__
from . import formula as formulas
from .csvfile import read_columns
from .data import Settings, simulate
from .fit import ConvergenceError, fit_models
from .output import STDOUT, Terminated, check_target, raise_on_sigterm, refuse_overlaps, write_text
from .report import json_ready


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_data_options(parser, seed=True):
    defaults = Settings()
    group = parser.add_argument_group("data settings (the article's create_data() arguments)")
    helps = {
        "obs_per_cluster": "observations per cluster",
        "n_cluster": "number of clusters",
        "intercept": "fixed intercept",
        "beta": "fixed slope of x",
        "sigma": "residual standard deviation",
        "sd_int": "standard deviation of the cluster intercepts",
        "sd_slope": "standard deviation of the cluster slopes",
        "cor": "intercept-slope covariance (a covariance, as in the article's code)",
        "balanced": "fraction of rows kept, in [0, 1]",
        "seed": "seed for R's set.seed",
    }
    for field in fields(Settings):
        if field.name == "seed" and not seed:
            continue  # a study draws its own seeds
        default = getattr(defaults, field.name)
        kind = int if field.type is int or field.type == "int" else float
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind,
                           default=default, metavar="N" if kind is int else "F",
                           help=f"{helps[field.name]} (default: {default:g})")


def _settings(args):
    return Settings(**{field.name: getattr(args, field.name) for field in fields(Settings)
                       if hasattr(args, field.name)})


def _cmd_data(args):
    write_text(simulate(_settings(args)).to_csv(index=False), args.out)


def _fit(args):
    """Fit the user's file when --data is given, otherwise the simulated setting."""
    if args.formula is not None:
        return _fit_formula(args)
    model = {"model": args.model or "slope", "method": args.method}
    if args.data is None:
        return fit_models(simulate(_settings(args)), **model)
    data = read_columns(args.data, args.y or "y", args.x or "x", args.cluster or "cluster",
                        sep=args.sep, decimal=args.decimal, encoding=args.encoding)
    return fit_models(data, y=args.y or "y", x=args.x or "x", cluster=args.cluster or "cluster",
                      **model)


def _fit_formula(args):
    """Fit ``--formula`` to ``--data`` (or to the simulated setting)."""
    given = [f"--{name}" for name in ("y", "x", "cluster", "model") if getattr(args, name)]
    if given:
        raise ValueError(f"formula: {', '.join(given)} and --formula name the same things; "
                         "give the formula alone")
    parsed = formulas.parse(args.formula)
    if args.data is None:
        return fit_models(args.formula, simulate(_settings(args)), method=args.method)
    others = [name for name in formulas.variables(parsed.fixed)
              if name not in formulas.TRANSFORMS | {"np", "numpy"}]
    data = read_columns(args.data, parsed.response, parsed.slope, parsed.cluster, sep=args.sep,
                        decimal=args.decimal, encoding=args.encoding, others=others)
    return fit_models(args.formula, data, method=args.method)


def _json(data):
    """JSON text, with values JSON cannot hold (NaN) as null."""
    return json.dumps(json_ready(data), indent=2, allow_nan=False)


def _cmd_fit(args):
    refuse_overlaps({"data": args.data}, {"out": args.out})
    if args.out != STDOUT:
        check_target(args.out)  # a bad output path fails before the work, not after
    result = _fit(args)
    text = _json(result.to_dict()) if args.json else result.summary()
    write_text(text + "\n", args.out)


def _cmd_animate(args):
    from .animate import render_files  # matplotlib loads only here

    refuse_overlaps({"data": args.data}, {"out": args.out, "static": args.static})
    # The article's simulations keep its fixed view; a user's data get a view of their own.
    render_files(_fit(args), args.out, static=args.static, progress=sys.stderr.isatty())


def _cmd_study(args):
    from .study import simulation_study, study_text, summarise_study

    if args.jobs is not None and (args.jobs == 0 or args.jobs < -1):
        raise ValueError(f"jobs must be a positive integer or -1 (every core), got {args.jobs}")
    if args.out != STDOUT:
        check_target(args.out)
    settings = _settings(args)
    results = simulation_study(settings, args.replicates, first_seed=args.first_seed,
                               n_jobs=args.jobs, progress=sys.stderr.isatty())
    summary = summarise_study(results)
    if args.json:
        settings_dict = {k: v for k, v in settings.as_dict().items() if k != "seed"}
        text = _json({"settings": settings_dict, "first_seed": args.first_seed,
                      "summary": summary,
                      # through pandas' JSON, which writes missing values as null
                      "replicates": json.loads(results.to_json(orient="records"))}) + "\n"
    else:
        text = study_text(results, summary, settings)
    write_text(text, args.out)


def _one_character(option):
    def parse(value):
        value = {"\\t": "\t", "tab": "\t"}.get(value, value)
        if len(value) != 1 or value in "\"\r\n":
            raise argparse.ArgumentTypeError(
                f"{option} must be one character (for a tab: '\\t' or tab), got {value!r}")
        return value
    return parse


def _add_model_options(parser):
    group = parser.add_argument_group("the model")
    group.add_argument("--formula", metavar="TEXT",
                       help="the model in lme4's notation, such as \"distance ~ age * Sex + "
                       "(age | Subject)\": any fixed part; the random part (1 | g), (x | g) or "
                       "(x || g) (README, \"Formulas\"); instead of --y, --x, --cluster and "
                       "--model")
    group.add_argument("--model", choices=["slope", "intercept", "uncorrelated"], default=None,
                       help="random intercepts and slopes, y ~ x + (x | cluster); random "
                       "intercepts, y ~ x + (1 | cluster); or uncorrelated ones, "
                       "y ~ x + (x || cluster) (default: slope)")
    group.add_argument("--method", choices=["REML", "ML"], default="REML",
                       help="restricted or full maximum likelihood (default: REML)")


def _add_file_options(parser):
    group = parser.add_argument_group(
        "your own data (instead of a simulation)",
        "A CSV file with a header row; rows with a missing value are left out.")
    group.add_argument("--data", metavar="FILE.csv",
                       help="the CSV file to fit ('-' reads standard input)")
    group.add_argument("--y", default=None, metavar="COLUMN",
                       help="the response column (default: y)")
    group.add_argument("--x", default=None, metavar="COLUMN",
                       help="the predictor column (default: x)")
    group.add_argument("--cluster", default=None, metavar="COLUMN",
                       help="the cluster column; its labels are read as text, exactly as "
                       "written (default: cluster)")
    group.add_argument("--sep", metavar="CHAR", type=_one_character("sep"),
                       help="the separator (default: found from the file: comma, "
                       "semicolon, tab or bar)")
    group.add_argument("--decimal", metavar="CHAR", type=_one_character("decimal"),
                       help="the decimal mark (default: '.', or ',' when the file is "
                       "semicolon- or tab-separated and writes numbers as 1,5)")
    group.add_argument("--encoding", metavar="NAME",
                       help="the text encoding (default: UTF-8, UTF-16 with a byte-order "
                       "mark, else Latin-1)")


def build_parser():
    parser = _Parser(prog="python -m shrinkage",
                     description="Data, fits and animations of shrinkage in mixed models.")
    parser.add_argument("--version", action="version", version=f"shrinkage {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="write the simulated data as CSV",
                               description="Write create_data()'s data as CSV (y,x,cluster).")
    _add_data_options(data)
    data.add_argument("--out", metavar="FILE", default=STDOUT,
                      help="write to FILE (default: '-', standard output)")
    data.set_defaults(run=_cmd_data)

    fit = commands.add_parser("fit", help="fit the mixed model and print its summary",
                              description="Fit y ~ x + (x | cluster) (or y ~ x + (1 | cluster) "
                              "with --model intercept), or any --formula with one random term, "
                              "by REML or ML, to a simulated setting or to your own CSV file "
                              "(--data).")
    _add_data_options(fit)
    _add_file_options(fit)
    _add_model_options(fit)
    fit.add_argument("--json", action="store_true",
                     help="print one JSON object instead of the text summary")
    fit.add_argument("--out", metavar="FILE", default=STDOUT,
                     help="write to FILE (default: '-', standard output)")
    fit.set_defaults(run=_cmd_fit)

    animate = commands.add_parser("animate", help="render the shrinkage animation",
                                  description="Render the shrinkage animation of a setting.")
    _add_data_options(animate)
    _add_file_options(animate)
    _add_model_options(animate)
    animate.add_argument("--out", metavar="FILE.mp4|FILE.gif", required=True,
                         help="the animation to write (MP4 or GIF)")
    animate.add_argument("--static", metavar="FILE.png|FILE.svg",
                         help="also write the static end-state figure")
    animate.set_defaults(run=_cmd_animate)

    study = commands.add_parser(
        "study", help="repeat a setting over many seeds: does partial pooling pay?",
        description="Simulate a setting with the seeds first-seed, first-seed + 1, ..., fit "
        "each replicate and report how often partial pooling beats no and complete "
        "pooling, the median errors and the share of singular fits.")
    _add_data_options(study, seed=False)
    study.add_argument("--replicates", type=int, default=200, metavar="N",
                       help="number of replicates (default: 200)")
    study.add_argument("--first-seed", type=int, default=1, metavar="S",
                       help="seed of the first replicate (default: 1)")
    study.add_argument("--jobs", type=int, default=None, metavar="J",
                       help="parallel jobs (default: every core)")
    study.add_argument("--json", action="store_true",
                       help="print the summary and every replicate as JSON")
    study.add_argument("--out", metavar="FILE", default=STDOUT,
                       help="write to FILE (default: '-', standard output)")
    study.set_defaults(run=_cmd_study)
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    raise_on_sigterm()  # SIGTERM ends a command as Ctrl-C does: old files kept, none partial
    try:
        args.run(args)
    except BrokenPipeError:
        # The reader (head, a pager) stopped early; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Terminated:
        print(f"{parser.prog} {args.command}: terminated; no file was changed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted; no file was changed", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{parser.prog} {args.command}: error: not enough memory for this work",
              file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ConvergenceError, OSError) as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0
