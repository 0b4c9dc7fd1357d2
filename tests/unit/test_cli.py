"""Every command's help is honest, its arguments are checked, and a bad one exits non-zero."""

from __future__ import annotations

import json
import os

import pytest

import jobs
import settings
from tests.factories import Api, deposit


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_help_shown_by_the_flask_cli_writes_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.setattr("sys.argv", ["flask", "--app", "app", "demo", "--help"])
    config = {}
    settings.load(config, str(tmp_path / "instance"), environ={})
    assert config["ADMIN_API_KEY"] and not (tmp_path / "instance").exists()


def test_a_command_that_runs_writes_the_development_secrets_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.setattr("sys.argv", ["flask", "--app", "app", "demo"])
    first, second = {}, {}
    settings.load(first, str(tmp_path), environ={})
    settings.load(second, str(tmp_path), environ={})
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["ADMIN_API_KEY"] == first["ADMIN_API_KEY"] == second["ADMIN_API_KEY"]


def test_demo_help_explains_host_port_and_what_it_seeds(app):
    out = invoke(app, "demo", "--help").output
    assert "Address to serve on" in out and "Port to serve on" in out and "[default: 5000" in out
    assert "PUBLIC_BASE_URL" in out and "120 s" in out and "campaign" in out


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_demo_refuses_a_port_outside_1_to_65535(app, port):
    result = invoke(app, "demo", "--no-serve", "--port", port)
    assert result.exit_code == 2 and "--port" in result.output


def test_run_due_help_lists_exactly_the_registered_sweeps(app):
    out = invoke(app, "jobs", "run-due", "--help").output
    section = out.split("Sweeps:\n", 1)[1].split("\n\n", 1)[0]
    listed = [line.split()[0] for line in section.splitlines() if line[2] != " "]
    assert listed == list(jobs._SWEEPS) and "settlement" in listed and "payouts" in listed
    assert "group_buy" in listed and "refunds" in listed
    assert all(len(line.split()) > 1 for line in section.splitlines() if line[2] != " ")  # each one explained


def test_run_due_runs_and_names_every_sweep(app):
    out = invoke(app, "jobs", "run-due").output
    assert [line.split(":")[0] for line in out.splitlines()] == list(jobs._SWEEPS)


def test_ledger_balance_of_an_unknown_owner_is_an_error_not_zero(app):
    result = invoke(app, "ledger", "balance", "store", "st_nobody", "available")
    assert result.exit_code == 2 and "has no 'available' account (its accounts: none)" in result.output


def test_ledger_balance_prints_an_existing_account_and_names_the_others(app, client):
    api = Api(app, client)
    brand = api.brand()
    deposit(api, brand, 12_345)
    assert invoke(app, "ledger", "balance", "brand", brand.id, "budget").output.strip() == "12345"
    assert invoke(app, "ledger", "balance", "platform", "-", "clearing").output.strip() == "-12345"
    wrong = invoke(app, "ledger", "balance", "brand", brand.id, "available")
    assert wrong.exit_code == 2 and "its accounts: budget" in wrong.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["shop", "x", "budget"], "OWNER_TYPE"),
        (["platform", "p1", "clearing"], "OWNER_ID"),
        (["brand", "-", "budget"], "OWNER_ID"),
    ],
)
def test_ledger_balance_refuses_bad_owners(app, args, needle):
    result = invoke(app, "ledger", "balance", *args)
    assert result.exit_code == 2 and needle in result.output


def test_codes_export_refuses_an_unknown_batch_and_a_range_outside_it(app, client, tmp_path):
    out = str(tmp_path / "codes.csv")
    unknown = invoke(app, "codes", "export", "bt_nope", "--out", out)
    assert unknown.exit_code == 2 and "no batch bt_nope" in unknown.output
    api = Api(app, client)
    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    outside = invoke(app, "codes", "export", batch["id"], "--out", out, "--to", str(batch["serial_to"] + 1))
    assert outside.exit_code == 2 and "--from/--to" in outside.output
    negative = invoke(app, "codes", "export", batch["id"], "--out", out, "--processes", "-1")
    assert negative.exit_code == 2 and not os.path.exists(out)


def test_codes_export_writes_what_trace_takes(app, client, tmp_path):
    api = Api(app, client)
    brand = api.brand()
    batch = api.batch(brand, quantity=3, format="gs1")
    out = tmp_path / "codes.csv"
    assert invoke(app, "codes", "export", batch["id"], "--out", str(out)).exit_code == 0
    _, token, url = out.read_text().splitlines()[1].split(",")
    assert token == url


def test_payments_simulate_refuses_an_unknown_order_and_a_url_that_is_not_http(app):
    unknown = invoke(app, "payments", "simulate", "or_nope", "--url", "http://127.0.0.1:9")
    assert unknown.exit_code == 2 and "no order or_nope" in unknown.output
    bad = invoke(app, "payments", "simulate", "or_nope", "--url", "ftp://example.com")
    assert bad.exit_code == 2 and "--url" in bad.output


def test_every_command_and_option_has_help(app):
    import click

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    missing = []
    for path, command in walk(app.cli, []):
        if path[:1] == ["openapi"]:  # flask-smorest's own commands
            continue
        if path and not (command.help or command.short_help):
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option) and not param.help and param.name != "help":
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def test_db_upgrade_refuses_an_unknown_revision(app):
    result = invoke(app, "db", "upgrade", "nope")
    assert result.exit_code == 2 and "REVISION" in result.output and "nope" in result.output


def test_run_due_prints_results_as_plain_json(app):
    out = invoke(app, "jobs", "run-due").output
    assert 'payouts: {"paid": 0, "failed": 0' in out and "PayoutStatus" not in out
