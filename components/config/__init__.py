"""The stack config: its schema (`stack`, `services`, on one `base`), the checks across keys, loading from a
stack file or the Pulumi engine (`sources`, `loading`), the error type, and the generated key reference.

Pure pydantic and PyYAML (plus the picker's config schema for `services.pools[].picker`): validation runs
before the cloud SDKs load.
"""

from __future__ import annotations

from components.config.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, ConfigProblem, exit_on_config_error
from components.config.loading import PROJECT_KEY, load_stack_config, validate_stack_config
from components.config.services import PoolSpec, ServicesConfig
from components.config.stack import StackConfig

__all__ = [
    "CONFIG_ERROR_EXIT_CODE",
    "PROJECT_KEY",
    "ConfigError",
    "ConfigProblem",
    "PoolSpec",
    "ServicesConfig",
    "StackConfig",
    "exit_on_config_error",
    "load_stack_config",
    "validate_stack_config",
]
