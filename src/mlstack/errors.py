"""Errors that mean "fix your input", reported as one clear line instead of a traceback."""

from mlstack.data.cd_prepare import DataError
from mlstack.params import ParamsError
from mlstack.utils.io import OutputError

USER_ERRORS: tuple[type[BaseException], ...] = (DataError, ParamsError, OutputError)

try:  # NVS scene errors, once that package provides them
    from mlstack.nvs.scene import SceneError  # type: ignore[attr-defined]

    USER_ERRORS += (SceneError,)
except ImportError:
    pass
