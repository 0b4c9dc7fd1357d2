"""What the codes package tells the packages above it, without importing them. Receivers take the session as sender
and work inside the caller's transaction.
- bound_code_claimed: a code bound to a store (by a case receipt) was claimed by its first scan;
  kwargs found (codes.verify.Verification), outcome (codes.scans.ScanOutcome), consumer_id."""

from blinker import Namespace

_signals = Namespace()
bound_code_claimed = _signals.signal("bound-code-claimed")
