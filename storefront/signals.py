"""What storefront tells the packages above it (loyalty) about orders, without importing them.

Receivers take the session as sender and work inside the caller's transaction.
- coupon_for_order: validate and hold a consumer's coupon for a new order; the receiver returns
  the discount in fen (or raises a domain error). No receiver answering means no coupon support.
- order_paid: the order's held coupon is now used (and the store reimbursed where the brand pays);
  kwargs order, settle_delay_seconds (when a store credit the receiver schedules becomes available).
- order_released: the order expired (coupon back to the wallet) or was refunded (coupon back,
  reimbursement reversed). `planned` ({account: fen}) is what the refund's one ledger transfer
  already takes from each account; receivers returning legs must count theirs into it.
- group_order_paid: a group-buy order was paid; its money waits in escrow (no split) until its
  group succeeds (kwarg order). The receiver counts the paid seat, in the payment's transaction.
- referrers_for_order: who referred the consumer placing a new order (kwargs consumer_id,
  brand_id); the receiver returns (referrer_id, referrer2_id or None), or None for nobody. The
  order carries them, and its split rule's referrer shares go to them.
"""

from blinker import Namespace

_signals = Namespace()
coupon_for_order = _signals.signal("coupon-for-order")
order_paid = _signals.signal("order-paid")
order_released = _signals.signal("order-released")
group_order_paid = _signals.signal("group-order-paid")
referrers_for_order = _signals.signal("referrers-for-order")
