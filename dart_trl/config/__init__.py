"""Recipes: strict YAML files mapped onto the jobs' config dataclasses, and the one-line bad-input error."""

from dart_trl.config.errors import RecipeError, run_guarded
from dart_trl.config.job import Job
from dart_trl.config.keys import LazySection
from dart_trl.config.launch import LaunchArguments
from dart_trl.config.parser import parse_options, parse_recipe
from dart_trl.config.recipe import (
    CHECKED_RECIPE_ENV,
    RESOLVED_RECIPE_NAME,
    Recipe,
    to_plain,
    write_resolved_recipe,
)
from dart_trl.config.tracking import WandbArguments

__all__ = [
    "CHECKED_RECIPE_ENV",
    "RESOLVED_RECIPE_NAME",
    "Job",
    "LaunchArguments",
    "LazySection",
    "Recipe",
    "RecipeError",
    "parse_options",
    "parse_recipe",
    "run_guarded",
    "to_plain",
    "WandbArguments",
    "write_resolved_recipe",
]
