"""The control service's records in the lake: commands sent to devices and service events."""
