"""Session fixture for the services tests.

The logic lives in mlstack.stack.testing so other test directories can use
the same fixture by importing it into their conftest.py (or via
`pytest_plugins = ["mlstack.stack.testing"]` in the top-level conftest).
"""

from mlstack.stack.testing import services_stack  # noqa: F401  (pytest fixture)
