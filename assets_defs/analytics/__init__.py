"""Smart-meter analytics: vampire loads and alerts, load and PV forecasts."""
