"""Recipes: strict YAML files mapped onto the jobs' config dataclasses, and the one-line bad-input error."""

from dart_trl.config.errors import RecipeError, run_guarded
from dart_trl.config.recipe import (
    RESOLVED_RECIPE_NAME,
    LaunchArguments,
    Recipe,
    export_env,
    load_recipe,
    parse_job_argv,
    parse_overrides,
    to_plain,
    write_resolved_recipe,
)

__all__ = [
    "RESOLVED_RECIPE_NAME",
    "LaunchArguments",
    "Recipe",
    "RecipeError",
    "export_env",
    "load_recipe",
    "parse_job_argv",
    "parse_overrides",
    "run_guarded",
    "to_plain",
    "write_resolved_recipe",
]
