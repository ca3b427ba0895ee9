"""The code location, instance and Helm values for a Kubernetes cluster."""
