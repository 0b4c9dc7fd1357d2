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
@click.argument(
    "owner_type", metavar="OWNER_TYPE", type=click.Choice(["brand", "store", "campaign", "consumer", accounts.PLATFORM])
)
@click.argument("owner_id")
@click.argument("purpose")
def balance_command(owner_type, owner_id, purpose):
    """Print one account's posted balance in fen, e.g. `store st_... available` or `platform - clearing`.

    OWNER_TYPE is brand, store, campaign, consumer or platform; OWNER_ID is the owner's id ('-' for
    platform accounts); PURPOSE is the account's purpose (brand: budget; store: pending, available,
    in_transit, paid_out; campaign: reserve; platform: clearing, fees). An account that does not exist
    is an error (exit 2) naming the accounts that owner has."""
    owner = None if owner_id == "-" else owner_id
    if (owner is None) != (owner_type == accounts.PLATFORM):
        raise click.BadParameter("'-' for platform accounts, an id for every other owner", param_hint="OWNER_ID")
    with session_scope() as session:
        held = accounts.accounts_of(session, owner_type, owner)
        if purpose not in held:
            known = ", ".join(sorted(held)) if held else "none"
            raise click.BadParameter(
                f"{owner_type} {owner_id} has no {purpose!r} account (its accounts: {known})", param_hint="PURPOSE"
            )
        click.echo(held[purpose].balance_fen)
