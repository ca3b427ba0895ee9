"""Deployment configuration for the NovaEnergy code location."""
