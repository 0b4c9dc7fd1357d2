"""`flask payments ...`: the payment provider's side, for demos and manual tests."""

import json
import os
import urllib.error
import urllib.request

import click
from flask import current_app
from flask.cli import AppGroup

from db import session_scope
from storefront.models import Order
from storefront.payments.provider import charge_notice

payments_group = AppGroup("payments", help="Payment provider tools.")  # commands run in an app context


def _default_url() -> str:
    """The running demo's origin (instance/demo.json), else PUBLIC_BASE_URL."""
    try:
        with open(os.path.join(current_app.instance_path, "demo.json")) as fh:
            return json.load(fh)["base_url"]
    except (OSError, ValueError, KeyError):
        return current_app.config["PUBLIC_BASE_URL"]


def _http_url(ctx, param, value):
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://")
    return value


@payments_group.command("simulate")
@click.argument("order_id")
@click.option("--transaction-id", default=None, help="Provider transaction id (default: sim-ORDER_ID).")
@click.option(
    "--url",
    default=None,
    callback=_http_url,
    help="Origin of the running server to notify (default: the demo's, from instance/demo.json, else PUBLIC_BASE_URL).",
)
def simulate_command(order_id, transaction_id, url):
    """POST ORDER_ID's correctly signed 'paid' notice to the running server's /api/v1/payments/notify,
    as the payment provider would (demos, manual tests); exit 1 if it is refused or unreachable."""
    with session_scope() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise click.BadParameter(f"no order {order_id}", param_hint="ORDER_ID")
        amount = order.amount_fen
    # The simulated provider takes the payment (in its own books) and signs the notice it sends.
    body, signature = charge_notice(
        order_id, amount, transaction_id or f"sim-{order_id}", current_app.config["PAYMENT_WEBHOOK_SECRET"]
    )
    target = (url or _default_url()).rstrip("/") + "/api/v1/payments/notify"
    request = urllib.request.Request(
        target, data=body, method="POST", headers={"X-Signature": signature, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as error:
        raise click.ClickException(f"cannot reach {target}: {getattr(error, 'reason', error)}") from None
    click.echo(f"{status} {text.strip()}")
    if status != 200:
        raise click.ClickException("the notice was refused")


@payments_group.command("reconcile")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The statement day, YYYY-MM-DD in Asia/Shanghai (default: yesterday).",
)
def reconcile_command(day):
    """Compare our provider transactions (payments and refunds) of one day with the payment provider's
    statement and print every difference, one JSON object per line; exit 1 if there is any."""
    from datetime import timedelta

    from db import utcnow
    from locale_format import shanghai
    from storefront.payments import provider, reconciliation

    day = day.date() if day else shanghai(utcnow()).date() - timedelta(days=1)
    if current_app.config["PAYMENT_PROVIDER"] != "simulated":
        raise click.ClickException("only the simulated provider's statement can be fetched here")
    with session_scope() as session:
        ours = reconciliation.ours(session, day)
    found = reconciliation.differences(ours, provider.statement(day))
    for row in found:
        click.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
    click.echo(f"{day}: {len(found)} difference(s)", err=True)
    if found:
        raise SystemExit(1)
