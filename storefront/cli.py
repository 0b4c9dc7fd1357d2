import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from db import session_scope
from storefront import ledger
from storefront.models import Account, Entry


ledger_group = AppGroup("ledger", help="The double-entry ledger.")   # commands run in an app context


@ledger_group.command("verify")
def verify_command():
    """Re-walk every account's hash chain and re-add the books; exit 1 and name the entry where it breaks."""
    with session_scope() as session:
        problems = ledger.verify(session)
        accounts = session.scalar(select(func.count()).select_from(Account))
        entries = session.scalar(select(func.count()).select_from(Entry))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"ledger verify FAILED: {len(problems)} problem(s)")
    click.echo(f"ledger OK: {accounts} accounts, {entries} entries, hash chains intact, balances sum to 0")


@ledger_group.command("balance")
@click.argument("owner_type")
@click.argument("owner_id")
@click.argument("purpose")
def balance_command(owner_type, owner_id, purpose):
    """Print one account's balance in fen (OWNER_ID '-' for platform accounts)."""
    with session_scope() as session:
        click.echo(ledger.balance(session, (owner_type, None if owner_id == "-" else owner_id, purpose)))


payments_group = AppGroup("payments", help="Payment provider tools.")


@payments_group.command("simulate")
@click.argument("order_id")
@click.option("--transaction-id", default=None, help="Provider transaction id (default: sim-ORDER_ID).")
def simulate_command(order_id, transaction_id):
    """Send ORDER_ID's correctly signed 'paid' notice, as the payment provider would (demos, manual tests)."""
    import json

    from flask import current_app

    from storefront.models import Order
    from storefront.payments import sign

    with session_scope() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise click.ClickException(f"no order {order_id}")
        amount = order.amount_fen
    body = json.dumps({"order_id": order_id, "transaction_id": transaction_id or f"sim-{order_id}",
                       "amount_fen": amount, "status": "paid"}).encode()
    response = current_app.test_client().post("/api/v1/payments/notify", data=body,
                                              headers={"X-Signature": sign(body), "Content-Type": "application/json"})
    click.echo(f"{response.status_code} {response.get_data(as_text=True).strip()}")
    if response.status_code != 200:
        raise click.ClickException("the notice was refused")
