"""Planning: day-ahead and intraday setpoint plans, their limits check, V2G settlements."""
