"""The command line's words: commands, flags and their help (``python -m lib.cli --help``)."""

from __future__ import annotations

import argparse
import sys

from lib.text.i18n import DEFAULT_LANGUAGE, LANGUAGES

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one ``error:`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}. Run '{self.prog} --help' for usage.\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _read_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="CSV/TSV/TXT, .gz, single-file .zip, .xlsx or .parquet")
    p.add_argument("--sep", help="delimiter (default: detected among , ; TAB |); 'tab' or '\\t' for TAB")
    p.add_argument("--encoding", help="text encoding (default: detected: UTF-8, GB18030, cp1252...)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")


def _lang_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=list(LANGUAGES), default=DEFAULT_LANGUAGE,
                   help="language of the text in report.json, warnings, reasons and errors (keys and column "
                        "names stay English)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lib.cli", description="Bullseye: segment, score, explain and target customers.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="print column roles and the data-quality report as JSON")
    _read_options(check)
    check.add_argument("--target", help="target column to check class balance and leakage for")
    check.add_argument("--positive", help="the target value that counts as positive")

    run = _run_parser(sub)
    sc = _score_parser(sub)
    res = sub.add_parser("results", help="measure a recorded campaign's lift from a results file")
    res.add_argument("--campaign", required=True)
    _read_options(res)
    res.add_argument("--id", dest="id_col", help="customer id column of the results file")
    res.add_argument("--outcome", help="responded/converted column (default: detected; none = every id responded)")
    res.add_argument("--revenue", help="revenue column")
    res.add_argument("--data-dir")
    for p in (check, run, sc, res):
        _lang_option(p)
    return parser


def _run_parser(sub) -> argparse.ArgumentParser:
    run = sub.add_parser("run", help="run the whole pipeline and write report.json, customers.csv, targets.csv")
    _read_options(run)
    run.add_argument("--out", required=True, help="output folder (created if missing)")
    run.add_argument("--target", help="column to predict (e.g. responded)")
    run.add_argument("--positive", help="the target value that counts as positive (default: yes/true/1...)")
    run.add_argument("--id", dest="id_col", help="customer id column (default: detected)")
    run.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns never to use as features")
    run.add_argument("--allow", nargs="+", default=[], metavar="COL",
                     help="leakage suspects to keep as features anyway (only if known before the campaign)")
    run.add_argument("--segments", default="auto", help="'auto' (k by silhouette) or a number of segments")
    run.add_argument("--segment-method", choices=["kmeans", "rfm"], default="kmeans",
                     help="clustering (default) or RFM groups")
    _list_options(run)
    run.add_argument("--transactions", action="store_true", help="the input is an order-line log")
    run.add_argument("--no-transactions", action="store_true",
                     help="the input is a customer table even if it looks like an order-line log")
    run.add_argument("--customer-col")
    run.add_argument("--date-col")
    run.add_argument("--amount-col")
    run.add_argument("--cutoff", help="as-of date YYYY-MM-DD (transactions)")
    run.add_argument("--horizon", type=int, metavar="DAYS", help="label = bought again within DAYS after the cutoff")
    run.add_argument("--as-of", metavar="YYYY-MM-DD",
                     help="transactions: the end of the log; lines on or after it are left out and counted "
                          "(default: the export's plausible end, so a few stray future dates never set it)")
    run.add_argument("--explain-method", choices=["auto", "woodelf", "xgboost"], default="auto")
    run.add_argument("--train-rows", type=int, default=None, metavar="N",
                     help="train the trees on a stratified sample of N rows when there are more (default 300000; "
                          "0 = every row). The holdout is never sampled.")
    run.add_argument("--learners", default="auto", metavar="auto|all|NAME[,NAME...]",
                     help="learners to compare on the same folds: auto (XGBoost and logistic, plus the rest on small "
                          "files), all, or names from logistic, tree, forest, svm, mlp, xgboost")
    run.add_argument("--campaign", help="record the target list as a campaign under this name")
    run.add_argument("--data-dir", help="where campaign history is kept (default ~/.bullseye)")
    run.add_argument("--save-model", metavar="PATH", help="write the trained model file (.bullseye) here")
    run.add_argument("--recommend", type=int, metavar="K", help="transactions: K product recommendations per customer")
    run.add_argument("--recommend-mode", choices=["all", "new"], default="all",
                     help="all: what they will buy next, own items included; new: only items never bought")
    run.add_argument("--forecast", metavar="NM|NW",
                     help="transactions: forecast the shop's net sales N months (3M) or weeks (8W) ahead: forecast.csv")
    run.add_argument("--risk", action="store_true",
                     help="risk score, flag and reasons (a log: returns, bulk, prices, bursts; a customer table: "
                          "shared contact details, implausible values): risk.csv")
    run.add_argument("--risk-share", type=float, default=0.02, metavar="P", help="with --risk: riskiest share flagged")
    run.add_argument("--exclude-risky", action="store_true", help="with --risk: leave flagged customers off the list")
    run.add_argument("--no-value", action="store_true",
                     help="transactions: skip the customer value and churn-risk predictions")
    run.add_argument("--treatment", metavar="COL",
                     help="who got the campaign (sent/control): learn the uplift and target by it")
    run.add_argument("--treated-value", metavar="V", help="the treatment column's value for those who got it")
    run.add_argument("--learn-from", metavar="CAMPAIGN",
                     help="learn who a recorded campaign changed (its list, control group and --results) and "
                          "target by it, as the app's Campaigns page does")
    run.add_argument("--results", metavar="FILE", help="with --learn-from: the campaign's results file")
    run.add_argument("--results-outcome", metavar="COL",
                     help="with --learn-from: the results' responded column (default: detected)")
    _privacy_options(run)
    return run



def _score_parser(sub) -> argparse.ArgumentParser:
    sc = sub.add_parser("score", help="score a new file with a saved model: customers.csv, targets.csv, report.json")
    sc.add_argument("--model", required=True, help="a model file written by run --save-model or the app")
    _read_options(sc)
    sc.add_argument("--out", required=True, help="output folder (created if missing)")
    sc.add_argument("--id", dest="id_col", help="customer id column (default: the training file's, else detected)")
    _list_options(sc)
    sc.add_argument("--explain-method", choices=["auto", "woodelf", "xgboost"], default="auto")
    sc.add_argument("--campaign", help="record the target list as a campaign under this name")
    sc.add_argument("--data-dir", help="where campaign history is kept (default ~/.bullseye)")
    sc.add_argument("--engine", choices=["auto", "memory", "stream", "dask"], default="auto",
                    help="memory: read the file whole; stream: in batches, flat memory (CSV/Parquet); dask: on a "
                         "Dask cluster; auto (default): stream files over 256 MB, else memory")
    sc.add_argument("--scheduler", metavar="ADDRESS",
                    help="dask: the cluster's scheduler (tcp://host:8786); default: a LocalCluster on this machine")
    sc.add_argument("--workers", type=int, metavar="N", help="dask LocalCluster: worker processes (default: cores)")
    sc.add_argument("--batch-rows", type=int, default=250_000, metavar="N", help="stream: rows per batch")
    sc.add_argument("--output-format", choices=["csv", "parquet"], default="csv",
                    help="stream/dask: customers.csv (default), or a customers.parquet folder of parts")
    sc.add_argument("--risk", action="store_true",
                    help="risk score, flag and reasons: risk.csv (always, by the model's thresholds, when it carries them)")
    sc.add_argument("--risk-share", type=float, metavar="P", help="riskiest share flagged (default: the model's, else 0.02)")
    sc.add_argument("--exclude-risky", action="store_true", help="leave flagged customers off the list")
    _privacy_options(sc)
    return sc



def _privacy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pseudonymise", "--pseudonymize", action="store_true",
                   help="replace every customer id by a keyed pseudonym (HMAC-SHA256; key from BULLSEYE_SECRET_KEY, "
                        "else kept in the data folder) and write no personal data")


def _list_options(p: argparse.ArgumentParser) -> None:
    from lib.flow.listing import AUTO, RANK_BY

    size = p.add_mutually_exclusive_group()
    size.add_argument("--top", type=int, dest="top_n", metavar="N", help="target the N best-ranked customers")
    size.add_argument("--top-pct", type=float, metavar="P", help="target the best P percent")
    size.add_argument("--budget", type=float, metavar="B", help="target as many as B buys at --cost-per-contact")
    p.add_argument("--control-pct", type=float, default=0.0, metavar="P", help="hold out P%% of the list as control")
    p.add_argument("--rank-by", choices=[AUTO, *RANK_BY], default=AUTO,
                   help="order of the list: auto (default: uplift when an uplift model beats random, else score), "
                        "score, uplift, expected_profit (score x predicted value - cost) or uplift_value")
    p.add_argument("--cost-per-contact", type=float, default=1.0, metavar="C", help="cost of one contact (default 1)")
    p.add_argument("--value-per-conversion", type=float, default=0.0, metavar="V",
                   help="value of one response, for the list's expected profit (default: each customer's predicted "
                        "value where there is one)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--audience", metavar="CHANNELS", help="also write audience_<channel>.csv of the target group for "
                   "google, meta (hashed by their rules), mailchimp, klaviyo, brevo (consent respected); comma-separated")
    p.add_argument("--phone-region", metavar="CC", help="country (US, GB, CN...) of phones without a country code")
    p.add_argument("--contact-col", nargs="+", default=[], metavar="KIND=COL", help="e.g. email=mail phone=mobile")
