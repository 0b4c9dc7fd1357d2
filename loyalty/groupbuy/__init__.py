"""Group-buy (拼团): groups of a group_buy campaign that fill with paying members within a time, seats
taken by conditional UPDATEs, expiry by RQ's scheduler with a sweep behind it, failed groups
refunded in full through storefront's refunds."""
