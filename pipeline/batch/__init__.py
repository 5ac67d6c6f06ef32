"""manifest -> plan -> coordinator -> workers; the ledger and its locks."""
