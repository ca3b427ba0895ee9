"""Granular certificates (Guarantees of Origin per Wh and hour): ledger, matching, export."""
