"""Tamper evidence: every entry's hash, and `verify`, which re-walks the chains and re-adds the books.

Entries form one hash chain per account (seq, prev_hash, hash = SHA-256 over the previous hash and
the entry's content, including its transfer's key, kind and reference), so locking stays local to
the accounts a transfer touches. The account row keeps the chain head and the running totals;
`verify` recomputes both from the entries.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storefront.ledger.accounts import AccountRef, account_name
from storefront.ledger.models import GENESIS_HASH, Account, Entry, Transfer, TransferStatus


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def entry_hash(
    prev_hash: str,
    account: str,
    seq: int,
    transfer_id: str,
    key: str,
    kind: str,
    reference: str | None,
    amount_fen: int,
    balance_after_fen: int,
    at: datetime,
) -> str:
    payload = json.dumps(
        [
            prev_hash,
            account,
            int(seq),
            transfer_id,
            key,
            kind,
            reference,
            int(amount_fen),
            int(balance_after_fen),
            _timestamp(at),
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def verify(session: Session, accounts: list[AccountRef] | None = None) -> list[str]:
    """Re-walk the hash chains and re-add the books; [] when everything holds.

    Per account (all, or just `accounts`): sequence, prev_hash and hash of every entry, running
    balance after each entry, the account's total and chain head, its pending reservations, and
    the bound. Every transfer's entries sum to zero (with `accounts`: the transfers touching them),
    and all balances, globally, sum to zero.
    Each problem names the first broken entry id of its account (or the transfer / account).
    """
    problems: list[str] = []
    account_query = select(Account).order_by(Account.id)
    if accounts is not None:
        account_query = account_query.where(Account.name.in_([account_name(r) for r in accounts]))
    books = {a.id: a for a in session.scalars(account_query.execution_options(populate_existing=True))}

    rows = (
        select(
            Entry.id,
            Entry.account_id,
            Entry.seq,
            Entry.amount_fen,
            Entry.balance_after_fen,
            Entry.at,
            Entry.prev_hash,
            Entry.hash,
            Entry.transfer_id,
            Transfer.key,
            Transfer.kind,
            Transfer.reference,
        )
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .order_by(Entry.account_id, Entry.seq)
    )
    if accounts is not None:
        rows = rows.where(Entry.account_id.in_(list(books) or [-1]))

    walked: dict[int, tuple[int, str, int, int | None]] = {}  # account id -> (seq, head, sum, last entry id)
    broken: set[int] = set()
    for row in session.execute(rows.execution_options(yield_per=5000)):
        acc = books.get(row.account_id)
        if acc is None:
            problems.append(f"entry {row.id}: belongs to no account ({row.account_id})")
            continue
        if row.account_id in broken:
            continue
        seq, head, total, _ = walked.get(row.account_id, (0, GENESIS_HASH, 0, None))
        total += row.amount_fen
        where = f"entry {row.id} on {acc.name}"
        if row.seq != seq + 1:
            problem = f"{where}: sequence {row.seq} follows {seq} (an entry is missing or was inserted)"
        elif row.prev_hash != head:
            problem = f"{where}: prev_hash does not match the entry before it (chain broken)"
        elif (
            entry_hash(
                head,
                acc.name,
                row.seq,
                row.transfer_id,
                row.key,
                row.kind,
                row.reference,
                row.amount_fen,
                row.balance_after_fen,
                row.at,
            )
            != row.hash
        ):
            problem = f"{where}: hash mismatch (the entry or its transfer was altered)"
        elif row.balance_after_fen != total:
            problem = f"{where}: balance_after {row.balance_after_fen} but the entries add up to {total}"
        else:
            walked[row.account_id] = (row.seq, row.hash, total, row.id)
            continue
        problems.append(problem)
        broken.add(row.account_id)

    open_pending = select(Transfer.debit_account_id, Transfer.credit_account_id, Transfer.amount_fen).where(
        Transfer.status == TransferStatus.PENDING
    )
    if accounts is not None:
        open_pending = open_pending.where(
            or_(Transfer.debit_account_id.in_(list(books) or [-1]), Transfer.credit_account_id.in_(list(books) or [-1]))
        )
    reserved_debits: dict[int, int] = defaultdict(int)
    reserved_credits: dict[int, int] = defaultdict(int)
    for debit_id, credit_id, amount in session.execute(open_pending):
        reserved_debits[debit_id] += amount
        reserved_credits[credit_id] += amount
    for acc in books.values():
        if acc.id in broken:
            continue
        seq, head, total, last = walked.get(acc.id, (0, GENESIS_HASH, 0, None))
        if total != acc.balance_fen:
            problems.append(f"account {acc.name}: balance {acc.balance_fen} but its entries add up to {total}")
        if seq != acc.entry_seq or head != acc.head_hash:
            problems.append(
                f"account {acc.name}: chain head is not its last entry ({last}); entries after it "
                f"are missing or the head was altered"
            )
        if (
            int(reserved_debits.get(acc.id) or 0) != acc.pending_debits_fen
            or int(reserved_credits.get(acc.id) or 0) != acc.pending_credits_fen
        ):
            problems.append(f"account {acc.name}: pending totals do not match its open pending transfers")
        if acc.bounded and acc.balance_fen - acc.pending_debits_fen < 0:
            problems.append(f"account {acc.name}: bounded account is negative ({acc.spendable_fen})")

    unbalanced = (
        select(Entry.transfer_id, func.sum(Entry.amount_fen))
        .group_by(Entry.transfer_id)
        .having(func.sum(Entry.amount_fen) != 0)
    )
    if accounts is not None:
        unbalanced = unbalanced.where(
            Entry.transfer_id.in_(
                select(Entry.transfer_id).where(Entry.account_id.in_(list(books) or [-1])).scalar_subquery()
            )
        )
    for transfer_id, total in session.execute(unbalanced):
        problems.append(f"transfer {transfer_id}: entries add up to {total}, not 0")
    total_balance = int(session.scalar(select(func.coalesce(func.sum(Account.balance_fen), 0))))
    if total_balance != 0:
        problems.append(f"ledger: account balances add up to {total_balance}, not 0")
    return problems
