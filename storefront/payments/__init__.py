"""The payment provider's side of orders: signed payment notices kept as facts (notices), refunds
that a store approves and the provider confirms (refunds, provider), and the daily comparison of
our facts with the provider's statement (reconciliation)."""
