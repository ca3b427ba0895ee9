"""Certificates and Scope 2: the GO ledger, hourly matching, exports and the monthly report."""
