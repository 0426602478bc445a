"""Every operator page is drawn by the one template environment of ``audience.pages``."""

from __future__ import annotations

from pathlib import Path

import audience

SOURCE = Path(audience.__file__).parent


def test_only_the_pages_rendering_module_makes_a_template_environment() -> None:
    makers = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if "jinja2.Environment(" in path.read_text(encoding="utf-8")
    )
    assert makers == ["pages/rendering.py"]


def test_every_template_lives_in_the_pages_package() -> None:
    templates = sorted(str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.html"))
    assert templates
    assert all(path.startswith("pages/templates/") for path in templates)
