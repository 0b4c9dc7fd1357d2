"""`flask ledger ...`: verify the books, print a balance."""

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from db import session_scope
from storefront.ledger import accounts, audit
from storefront.ledger.models import Account, Entry

ledger_group = AppGroup("ledger", help="The double-entry ledger.")  # commands run in an app context


@ledger_group.command("verify")
def verify_command():
    """Re-walk every account's hash chain and re-add the books; exit 1 and name the entry where it breaks."""
    with session_scope() as session:
        problems = audit.verify(session)
        count = session.scalar(select(func.count()).select_from(Account))
        entries = session.scalar(select(func.count()).select_from(Entry))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"ledger verify FAILED: {len(problems)} problem(s)")
    click.echo(f"ledger OK: {count} accounts, {entries} entries, hash chains intact, balances sum to 0")


@ledger_group.command("balance")
@click.argument("owner_type")
@click.argument("owner_id")
@click.argument("purpose")
def balance_command(owner_type, owner_id, purpose):
    """Print one account's balance in fen (OWNER_ID '-' for platform accounts)."""
    with session_scope() as session:
        click.echo(accounts.balance(session, (owner_type, None if owner_id == "-" else owner_id, purpose)))
