"""Groups of a group_buy campaign: open, join, pay, succeed or fail.

- A seat is taken when a member's order is created, by one conditional UPDATE on the group row
  (forming, not expired, `seats_taken < size`), in the transaction that creates the order, and a
  CHECK on the row refuses a seat past the size should anything else try. A consumer holds at most
  one seat per group (the member row's key) and at most `per_consumer_limit` across the campaign
  (campaigns.take_consumer_quota). The seat is given back when the order expires unpaid.
- Paying is storefront's signed webhook; a group order's money waits in escrow (orders.mark_paid)
  and the group_order_paid signal counts the paid seat here. The payment that makes `size` paid
  members decides success once (a conditional UPDATE from forming); the members' orders are then
  split by a job (`split_group`), enqueued after that commit, with the sweep behind it.
- Expiry: a job scheduled at `expires_at` (RQ's scheduler), and the sweep for any it missed. In one
  transaction: unpaid orders are cancelled, then the group row decides failed (every paid member
  refunded in full by a system refund, one per order) or, with `virtual_fill` and a paid member,
  succeeded with virtual members. A worker killed mid-expiry committed all of it or none.

Lock order, everywhere: order rows, then member rows, then the group row (a join locks only the
group row and creates new rows), so payments, expiries and joins never wait on each other in a circle.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import jobs
from codes.models import Product
from db import new_id, utcnow
from errors import Conflict, NotFound
from loyalty import campaigns
from loyalty.groupbuy.models import Group, GroupMember, GroupStatus
from loyalty.models import Campaign, CampaignStatus, CampaignType
from storefront import orders
from storefront.models import Order  # noqa: F401  (an order's seat)
from storefront.payments import refunds

QUOTA_PERIOD = "groups"  # campaign_consumer_counts period of group-buy seats


class GroupFull(Conflict):
    code, message = "group_full", "This group is full."


class GroupClosed(Conflict):
    code, message = "group_closed", "This group is no longer forming."


class AlreadyMember(Conflict):
    code, message = "already_member", "You are already in this group."


class LimitReached(Conflict):
    code, message = "limit_reached", "You are in as many groups of this campaign as it allows."


class CampaignClosed(Conflict):
    code, message = "campaign_closed", "This group-buy is not open for new groups."


def _campaign(session: Session, campaign_id: str) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.type != CampaignType.GROUP_BUY:
        raise NotFound("No such group-buy.")
    return campaign


def _settings(campaign: Campaign) -> dict:
    return campaign.settings["group_buy"]


def describe_group(group: Group) -> dict:
    return {
        "id": group.id,
        "campaign_id": group.campaign_id,
        "status": group.status,
        "size": group.size,
        "price_fen": group.price_fen,
        "members_paid": group.members_paid,
        "seats_left": max(0, group.size - group.seats_taken) if group.status == GroupStatus.FORMING else 0,
        "virtual_members": group.virtual_members,
        "expires_at": group.expires_at,
        "store_id": group.store_id,
        "product_id": group.product_id,
        "finished_at": group.finished_at,
    }


def campaign_view(session: Session, campaign_id: str, limit: int = 50) -> dict:
    """A group-buy as a consumer sees it, with the forming groups strangers can still join (凑团)."""
    campaign = _campaign(session, campaign_id)
    settings = _settings(campaign)
    product = session.get(Product, settings["product_id"])
    now = utcnow()
    live = campaign.status == CampaignStatus.ACTIVE and campaign.starts_at <= now < campaign.ends_at
    open_groups = session.scalars(
        select(Group)
        .where(
            Group.campaign_id == campaign.id,
            Group.status == GroupStatus.FORMING,
            Group.expires_at > now,
            Group.seats_taken < Group.size,
        )
        .order_by(Group.expires_at)
        .limit(limit)
    )
    return {
        "id": campaign.id,
        "name": campaign.name,
        "product": {"id": product.id, "name": product.name, "price_fen": product.price_fen},
        "group_size": settings["group_size"],
        "price_fen": settings["price_fen"],
        "duration_seconds": settings["duration_seconds"],
        "virtual_fill": settings["virtual_fill"],
        "status": campaign.status if campaign.status != CampaignStatus.ACTIVE or live else "not_live",
        "open_groups": [
            {"group_id": g.id, "seats_left": g.size - g.seats_taken, "expires_at": g.expires_at} for g in open_groups
        ],
    }


def get_group(session: Session, group_id: str) -> Group:
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("No such group.")
    return group


def _take_quota(session: Session, campaign: Campaign, consumer_id: str) -> None:
    limit = _settings(campaign)["per_consumer_limit"]
    if limit is not None and not campaigns.take_consumer_quota(session, campaign.id, consumer_id, QUOTA_PERIOD, limit):
        raise LimitReached()


def _seat_order(session: Session, group: Group, consumer_id: str, store_id: str, payment_seconds: int) -> Order:
    """The member row and its order, in the caller's transaction (create_order commits it all)."""
    session.add(GroupMember(group_id=group.id, consumer_id=consumer_id, order_id=new_id("or"), paid=False))
    try:
        session.flush()
    except IntegrityError:
        raise AlreadyMember() from None
    member = session.get(GroupMember, (group.id, consumer_id))
    order = orders.create_order(
        session,
        consumer_id,
        store_id,
        [{"product_id": group.product_id, "quantity": 1}],
        payment_seconds=payment_seconds,
        group_id=group.id,
        unit_price_fen=group.price_fen,
        order_id=member.order_id,
    )
    return order


def open_group(session: Session, consumer_id: str, campaign_id: str, store_id: str, *, payment_seconds: int):
    """A new group with the opener in its first seat (an order to pay); commits. Returns (group, order)."""
    campaign = _campaign(session, campaign_id)
    now = utcnow()
    if not (campaign.starts_at <= now < campaign.ends_at):
        raise CampaignClosed()
    settings = _settings(campaign)
    try:
        if not campaigns.take_budget(session, campaign.id, 1, 0, settings["max_groups"]):
            raise CampaignClosed("This group-buy is paused, ended, or has opened all the groups it allows.")
        _take_quota(session, campaign, consumer_id)
        group = Group(
            id=new_id("gp"),
            campaign_id=campaign.id,
            brand_id=campaign.brand_id,
            product_id=settings["product_id"],
            store_id=store_id,
            opener_id=consumer_id,
            size=settings["group_size"],
            price_fen=settings["price_fen"],
            status=GroupStatus.FORMING,
            seats_taken=1,
            members_paid=0,
            virtual_members=0,
            expires_at=now + timedelta(seconds=settings["duration_seconds"]),
            created_at=now,
        )
        session.add(group)
        session.flush()
        order = _seat_order(session, group, consumer_id, store_id, payment_seconds)
    except BaseException:
        session.rollback()
        raise
    from loyalty.groupbuy import jobs as groupbuy_jobs  # the jobs call this module

    jobs.enqueue_at(group.expires_at, groupbuy_jobs.expire_group, group.id, job_id=f"group-expiry:{group.id}")
    return group, order


def join_group(session: Session, consumer_id: str, group_id: str, store_id: str | None, *, payment_seconds: int):
    """A seat in a forming group (an order to pay), if one is left; commits. Returns the order."""
    group = get_group(session, group_id)
    campaign = session.get(Campaign, group.campaign_id)
    if session.get(GroupMember, (group.id, consumer_id)) is not None:
        raise AlreadyMember()
    try:
        _take_quota(session, campaign, consumer_id)
        took = session.execute(
            update(Group)
            .where(
                Group.id == group.id,
                Group.status == GroupStatus.FORMING,
                Group.expires_at > utcnow(),
                Group.seats_taken < Group.size,
            )
            .values(seats_taken=Group.seats_taken + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not took:
            session.refresh(group)
            if group.status != GroupStatus.FORMING or group.expires_at <= utcnow():
                raise GroupClosed()
            raise GroupFull()
        return _seat_order(session, group, consumer_id, store_id or group.store_id, payment_seconds)
    except BaseException:
        session.rollback()
        raise


# --- storefront's order signals ----------------------------------------------------------------


def seat_released(session: Session, *, order, refunded: bool, planned: dict, **_) -> list:
    """order_released: a group order expired or was cancelled unpaid; its seat goes back."""
    if refunded or not order.group_id:
        return []
    gone = session.execute(
        delete(GroupMember)
        .where(GroupMember.order_id == order.id, GroupMember.paid.is_(False))
        .execution_options(synchronize_session=False)
    ).rowcount
    if gone:
        session.execute(
            update(Group)
            .where(Group.id == order.group_id, Group.seats_taken > 0)
            .values(seats_taken=Group.seats_taken - 1)
            .execution_options(synchronize_session=False)
        )
        group = session.get(Group, order.group_id)
        campaigns.give_back_consumer_quota(session, group.campaign_id, order.consumer_id, QUOTA_PERIOD)
    return []


def seat_paid(session: Session, *, order) -> None:
    """group_order_paid: count the paid seat; the payment that fills the group makes it succeed."""
    session.execute(
        update(GroupMember)
        .where(GroupMember.order_id == order.id)
        .values(paid=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Group)
        .where(Group.id == order.group_id)
        .values(members_paid=Group.members_paid + 1)
        .execution_options(synchronize_session=False)
    )
    won = session.execute(
        update(Group)
        .where(Group.id == order.group_id, Group.status == GroupStatus.FORMING, Group.members_paid >= Group.size)
        .values(status=GroupStatus.SUCCEEDED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if won:
        _split_after_commit(session, order.group_id)


def _split_after_commit(session: Session, group_id: str) -> None:
    from loyalty.groupbuy import jobs as groupbuy_jobs

    jobs.enqueue_after_commit(session, groupbuy_jobs.split_group, group_id, job_id=f"group-split:{group_id}")


# --- the jobs ------------------------------------------------------------------------------------


def split_group(session: Session, group_id: str, *, settle_delay_seconds: int) -> int:
    """Split every paid member's escrowed order of a succeeded group (each once); commits per order."""
    group = session.get(Group, group_id)
    if group is None or group.status != GroupStatus.SUCCEEDED:
        return 0
    order_ids = list(
        session.scalars(select(GroupMember.order_id).where(GroupMember.group_id == group_id, GroupMember.paid))
    )
    split = 0
    for order_id in sorted(order_ids):
        split += orders.split_escrowed(session, order_id, settle_delay_seconds=settle_delay_seconds)
        session.commit()
    session.execute(
        update(Group).where(Group.id == group_id).values(split_at=utcnow()).execution_options(synchronize_session=False)
    )
    session.commit()
    return split


def expire_group(session: Session, group_id: str) -> list[str]:
    """Decide a forming group whose time ran out (module docstring); commits. Returns the refunds to send."""
    group = session.get(Group, group_id)
    if group is None or group.status != GroupStatus.FORMING or group.expires_at > utcnow():
        return []
    members = list(session.scalars(select(GroupMember).where(GroupMember.group_id == group_id)))
    cancelled = [
        m for m in sorted(members, key=lambda m: m.order_id) if orders.cancel_order(session, m.order_id, notify=False)
    ]
    for m in cancelled:  # their seats do not come back: the group is closing
        session.execute(
            delete(GroupMember)
            .where(GroupMember.order_id == m.order_id, GroupMember.paid.is_(False))
            .execution_options(synchronize_session=False)
        )
    group = session.scalar(
        select(Group).where(Group.id == group_id).with_for_update().execution_options(populate_existing=True)
    )
    if group.status != GroupStatus.FORMING:
        session.commit()
        return []
    campaign = session.get(Campaign, group.campaign_id)
    group.seats_taken = max(0, group.seats_taken - len(cancelled))
    group.finished_at = utcnow()
    if _settings(campaign)["virtual_fill"] and group.members_paid >= 1:
        group.status = GroupStatus.SUCCEEDED
        group.virtual_members = group.size - group.members_paid
        _split_after_commit(session, group.id)
        session.commit()
        return []
    group.status = GroupStatus.FAILED
    paid = sorted(
        session.scalars(select(GroupMember.order_id).where(GroupMember.group_id == group_id, GroupMember.paid))
    )
    refund_ids = [r for r in (refunds.refund_in_full(session, o, "the group did not fill in time") for o in paid) if r]
    session.commit()
    return refund_ids


def due_groups(session: Session, limit: int = 500) -> list[str]:
    return list(
        session.scalars(
            select(Group.id)
            .where(Group.status == GroupStatus.FORMING, Group.expires_at <= utcnow())
            .order_by(Group.expires_at)
            .limit(limit)
        )
    )


def unsplit_groups(session: Session, limit: int = 500) -> list[str]:
    """Succeeded groups whose members' orders are not all split yet (a split job that never ran)."""
    return list(
        session.scalars(
            select(Group.id)
            .where(Group.status == GroupStatus.SUCCEEDED, Group.split_at.is_(None))
            .order_by(Group.finished_at)
            .limit(limit)
        )
    )
