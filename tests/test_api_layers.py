"""The API's shape: a module that serves routes never imports another that does (what two of them share lives in
``deps``, ``security``, ``csv_files`` or ``web``), and the web pages have one template environment."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

from fastapi import APIRouter
from jinja2 import Environment

import passcompass_api


def api_modules() -> dict[str, ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(passcompass_api.__path__, "passcompass_api.")]
    return {name: importlib.import_module(name) for name in names}


def imported_names(module: ModuleType) -> set[str]:
    """Every module ``module`` imports, with ``from package import name`` counted as ``package.name``."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_route_modules_never_import_each_other():
    modules = api_modules()
    serving = {name for name, module in modules.items() if isinstance(getattr(module, "router", None), APIRouter)}
    assert {"passcompass_api.routers.uploads", "passcompass_api.web.home", "passcompass_api.web.signin"} <= serving
    crossings = {name: sorted(imported_names(modules[name]) & (serving - {name})) for name in sorted(serving)}
    assert {name: found for name, found in crossings.items() if found} == {}


def test_one_template_environment_for_the_pages():
    environments = {
        id(value): name
        for name, module in api_modules().items()
        for value in vars(module).values()
        if isinstance(value, Environment)
    }
    assert sorted(environments.values()) == ["passcompass_api.web.render"]
