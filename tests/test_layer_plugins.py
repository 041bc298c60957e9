"""Custom layers arrive only through the `genkit.layers` entry-point group."""

from importlib.metadata import EntryPoint

import keras
import pytest

from genkit.errors import GenkitError
from genkit.nets import registry


@keras.saving.register_keras_serializable(package="plugin_tests")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


@pytest.fixture
def plugins(monkeypatch):
    """Pretend installed packages declare these entry points."""

    def install(*points):
        monkeypatch.setattr(registry, "_plugins_loaded", False)
        monkeypatch.setattr(registry, "_PLUGINS", {})
        monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [p for p in points if p.group == group])

    return install


def test_a_plugin_layer_can_be_named_in_a_spec(plugins):
    plugins(EntryPoint("Doubler", f"{__name__}:Doubler", "genkit.layers"))
    assert registry.get_layer_class("Doubler") is Doubler
    assert "Doubler" in registry.list_layers()


def test_a_plugin_that_cannot_be_reloaded_is_refused(plugins):
    plugins(EntryPoint("Unregistered", f"{__name__}:Unregistered", "genkit.layers"))
    with pytest.raises(GenkitError, match="not registered with keras.saving"):
        registry.get_layer_class("Unregistered")


def test_a_plugin_that_fails_to_import_is_named(plugins):
    plugins(EntryPoint("Broken", "no_such_module_here:Thing", "genkit.layers"))
    with pytest.raises(GenkitError, match="'Broken'.*failed to import"):
        registry.list_layers()


def test_other_entry_point_groups_are_ignored(plugins):
    plugins(EntryPoint("Doubler", f"{__name__}:Doubler", "someone.else"))
    assert "Doubler" not in registry.list_layers()
