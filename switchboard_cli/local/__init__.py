"""The local stack: template.yaml served on this machine, AWS backed by moto in-process."""
