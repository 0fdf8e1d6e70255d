from tests.unit.engine.harness import llm, target

__all__ = ["llm", "target"]
