"""Bounded node work: templates, JMESPath, regular expressions and JSON Schema checks end within the node's
timeout and never grow past its ``max_value_bytes`` or a worker's memory.

``pool.compute`` runs a task (``tasks``) in the calling thread when its static cost (``cost``) says it is
cheap, and otherwise in a separate, niced, memory-capped worker process (``worker``) that is killed at the
node's deadline. See README.md, "Bounded node work".
"""
