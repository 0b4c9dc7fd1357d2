"""`flask payments ...`: the payment provider's side, for demos and manual tests."""

import json

import click
from flask import current_app
from flask.cli import AppGroup

from db import session_scope
from storefront.models import Order
from storefront.payments import sign

payments_group = AppGroup("payments", help="Payment provider tools.")  # commands run in an app context


@payments_group.command("simulate")
@click.argument("order_id")
@click.option("--transaction-id", default=None, help="Provider transaction id (default: sim-ORDER_ID).")
def simulate_command(order_id, transaction_id):
    """Send ORDER_ID's correctly signed 'paid' notice, as the payment provider would (demos, manual tests)."""
    with session_scope() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise click.ClickException(f"no order {order_id}")
        amount = order.amount_fen
    body = json.dumps(
        {
            "order_id": order_id,
            "transaction_id": transaction_id or f"sim-{order_id}",
            "amount_fen": amount,
            "status": "paid",
        }
    ).encode()
    signature = sign(body, current_app.config["PAYMENT_WEBHOOK_SECRET"])
    response = current_app.test_client().post(
        "/api/v1/payments/notify", data=body, headers={"X-Signature": signature, "Content-Type": "application/json"}
    )
    click.echo(f"{response.status_code} {response.get_data(as_text=True).strip()}")
    if response.status_code != 200:
        raise click.ClickException("the notice was refused")
