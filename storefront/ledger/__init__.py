"""The money core: double-entry accounts and transfers, their audit, store settlement and payouts,
balances and statements, and the store owner's page. Import the module you need
(`from storefront.ledger import transfers`); nothing is re-exported here.

accounts     account references (CLEARING, brand_budget, store_account), balance, spendable
transfers    transfer, transfer_many, post_pending, void_pending, expire_pending (books: their locks and writes)
audit        entry_hash, verify
deposits     a brand's funding in from outside
settlement   store credits: pending until the refund window passes, then available; reversals
payouts      a store's payouts, paid through a provider (providers)
balances     store balance and statement, brand balance
views, pages, schemas, jobs, cli: the HTTP API, the store page, the sweeps and `flask ledger`
(all wired by storefront.init_app)
"""

from storefront.ledger import models  # noqa: F401  (tables on Base.metadata)
