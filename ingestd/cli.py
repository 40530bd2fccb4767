"""The command line: run, receiver, status, check-config, check-receiver, reingest."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import orjson
import structlog

from ingestd import __version__, log
from ingestd.core import signing
from ingestd.core.names import printable_name
from ingestd.errors import ConfigError
from ingestd.failpoints import Failpoints
from ingestd.fs.spool import Layout
from ingestd.ops import check_config as checks
from ingestd.settings import Settings, config_path, from_mapping, load

EXIT_CONFIG = 2
DEMO_ROOT = Path("spool")
SYSTEM_CONFIG = Path("/etc/ingestd/config.toml")
OPERATOR_CONFIG_HELP = "TOML config (default: $INGESTD_CONFIG, else /etc/ingestd/config.toml)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"ingestd: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ingestd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config", help="TOML config (default: $INGESTD_CONFIG, else the demo)")
    run.set_defaults(func=_run)

    receiver = commands.add_parser("receiver", help="run the reference Pimcore-side receiver")
    receiver.add_argument("--host", default="127.0.0.1")
    receiver.add_argument("--port", type=int, default=9000)
    receiver.add_argument("--data", type=Path, default=Path("receiver-data"))
    receiver.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    receiver.add_argument("--tls-key", type=Path, help="and this private key (PEM)")
    receiver.add_argument(
        "--token-file", type=Path, help="require Authorization: Bearer <the file's one line>"
    )
    receiver.add_argument(
        "--signing-secret-file",
        type=Path,
        help="require a Standard Webhooks signature by one of the file's whsec_ secrets",
    )
    receiver.add_argument("--max-records", type=int, help="ask for at most N records a chunk")
    receiver.add_argument("--max-bytes", type=int, help="ask for at most N bytes of records")
    receiver.add_argument(
        "--reject-over", type=int, metavar="BYTES", help="answer 413 to a larger body"
    )
    receiver.add_argument(
        "--log-requests", type=Path, metavar="PATH", help="append every request as a JSON line"
    )
    receiver.set_defaults(func=_receiver)

    conformance = commands.add_parser(
        "check-receiver",
        help="check that a receiver keeps the protocol; exit 0 if every required check passes",
    )
    conformance.add_argument("url", help="the receiver's callback URL")
    conformance.add_argument("--signing-secret-file", type=Path, help="whsec_ secrets to sign with")
    conformance.add_argument("--token-file", type=Path, help="send Authorization: Bearer <line>")
    conformance.add_argument("--timeout", type=float, default=10.0, help="seconds per answer")
    conformance.add_argument("--json", action="store_true", help="print one JSON document")
    conformance.set_defaults(func=_check_receiver)

    check = commands.add_parser(
        "check-config", help="validate a config and the folders it names; exit 0, or 2"
    )
    check.add_argument("--config", help=OPERATOR_CONFIG_HELP)
    check.set_defaults(func=_check_config)

    status = commands.add_parser("status", help="what each inbox holds, from its folders")
    status.add_argument("--config", help=OPERATOR_CONFIG_HELP)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--recent", type=int, default=10, help="finished files to list")
    status.set_defaults(func=_status)

    reingest = commands.add_parser("reingest", help="move a finished file back into its inbox")
    reingest.add_argument("path", type=Path, help="a file in done/ or failed/")
    reingest.add_argument("--config", help=OPERATOR_CONFIG_HELP)
    reingest.set_defaults(func=_reingest)
    return parser


def _run(args: argparse.Namespace) -> int:
    from ingestd.runtime.daemon import Daemon

    path = config_path(args.config)
    if path is None:
        return _run_demo()
    settings = load(path)
    log.setup(settings.log_level, settings.log_format)
    return Daemon(settings, config_path=path, failpoints=_failpoints()).run()


def demo_settings(callback_url: str = "http://127.0.0.1:9000/callback") -> Settings:
    """The embedded default: one inbox under ./spool/demo, for trying ingestd without a config."""
    inbox = {
        "name": "demo",
        "root": str(DEMO_ROOT / "demo"),
        "callback_url": callback_url,
        "settle_seconds": 1.0,
    }
    return from_mapping({"inbox": [inbox]}, "embedded default")


def _failpoints() -> Failpoints:
    """Armed only when a test sets INGESTD_FAILPOINT (ingestd/failpoints.py)."""
    try:
        return Failpoints.from_environment(os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _run_demo() -> int:
    """No config at all: a spool under ./spool/ and an in-process reference receiver."""
    from ingestd.receiver import ReceiverServer
    from ingestd.runtime.daemon import Daemon

    log.setup()
    receiver = ReceiverServer(DEMO_ROOT / "receiver", port=0)
    receiver.start()
    settings = demo_settings(receiver.url)
    structlog.get_logger("ingestd").info(
        "no config given: running the demo; drop a JSON array of objects or an Excel workbook "
        "(.xlsx) into the inbox",
        inbox=str((DEMO_ROOT / "demo" / "inbox").resolve()),
        receiver=receiver.url,
        received_records=str((DEMO_ROOT / "receiver").resolve()),
    )
    try:
        return Daemon(settings, failpoints=_failpoints()).run()
    finally:
        receiver.stop()


def _receiver(args: argparse.Namespace) -> int:
    from ingestd.receiver import Policy, ReceiverServer

    log.setup()
    tls = (args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
    policy = Policy(
        token=args.token_file.read_text(encoding="utf-8").strip() if args.token_file else None,
        signing_keys=_signing_keys(args.signing_secret_file),
        max_records=args.max_records,
        max_bytes=args.max_bytes,
        reject_over=args.reject_over,
    )
    server = ReceiverServer(args.data, args.host, args.port, tls, policy, args.log_requests)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    structlog.get_logger("ingestd.receiver").info("listening", url=server.url, data=str(args.data))
    server.serve_forever()
    return 0


def _check_receiver(args: argparse.Namespace) -> int:
    from ingestd.ops.check_receiver import Checker, report

    if not args.url.startswith(("http://", "https://")):
        raise ConfigError(f"{args.url!r} is not an http:// or https:// URL")
    if args.timeout <= 0:
        raise ConfigError("--timeout must be more than 0 seconds")
    token = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--token-file {args.token_file}: {exc.strerror}") from None
    checker = Checker(args.url, args.timeout, token, _signing_keys(args.signing_secret_file))
    text, document, ok = report(checker.run(), args.url)
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() if args.json else text)
    return 0 if ok else 1


def _signing_keys(path: Path | None) -> tuple[bytes, ...]:
    if path is None:
        return ()
    try:
        return signing.parse_secrets(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--signing-secret-file {path}: {exc}") from None


def _operator_settings(explicit: str | None) -> tuple[str, Settings]:
    """The config an operator's command reads: --config, $INGESTD_CONFIG, the system one, or,
    when there is none of them, the demo's embedded default (as `ingestd run` uses), said so."""
    path = config_path(explicit) or SYSTEM_CONFIG
    if path == SYSTEM_CONFIG and not path.exists():
        print(
            f"ingestd: no --config, no $INGESTD_CONFIG and no {SYSTEM_CONFIG}: using the "
            f"embedded demo default (inbox 'demo' under {DEMO_ROOT / 'demo'}), as `ingestd run` "
            "does",
            file=sys.stderr,
        )
        return "embedded default", demo_settings()
    return str(path), load(path)


def _check_config(args: argparse.Namespace) -> int:
    path, settings = _operator_settings(args.config)
    found = checks.problems(settings)
    for problem in found:
        print(f"ingestd: {problem}", file=sys.stderr)
    if found:
        return EXIT_CONFIG
    names = ", ".join(i.name for i in settings.inbox)
    print(f"{path}: OK ({len(settings.inbox)} inbox(es): {names})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ingestd.ops import status

    _, settings = _operator_settings(args.config)
    statuses = [status.inbox_status(inbox, args.recent) for inbox in settings.inbox]
    if args.json:
        sys.stdout.buffer.write(status.as_json(statuses) + b"\n")
    else:
        print(status.as_text(statuses))
    return 0


def _reingest(args: argparse.Namespace) -> int:
    from ingestd.ops.reingest import Refused, reingest

    _, settings = _operator_settings(args.config)
    layouts = [Layout(inbox.root) for inbox in settings.inbox]
    try:
        target = reingest(args.path, layouts)
    except Refused as exc:
        print(f"ingestd: cannot reingest: {exc}; nothing was moved", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"ingestd: cannot reingest: {exc}", file=sys.stderr)
        return 1
    print(f"moved to {printable_name(str(target))}")
    return 0
