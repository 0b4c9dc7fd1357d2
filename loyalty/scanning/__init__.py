"""POST /scans, the hottest path: a batch of concurrent scans written together (batch.py, through
groupcommit.py), the everyday batch's one statement on PostgreSQL (statement.py), the draws and the
prizes taken (prizes.py), each scan's response (response.py), the request and its settings
(request.py), and the catalog's copies of campaigns and blacklists (catalog.py). docs/scanning.md
tells how a scan is written and why."""
