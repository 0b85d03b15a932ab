"""Every shipped recipe loads, builds its network and names valid compression stages."""

import pytest

from amc_cli.paths import REPO_ROOT
from model.compress.stages import n_steps
from model.config import load_recipe
from model.nets import build_net

RECIPES = sorted((REPO_ROOT / "model" / "recipes").glob("*.yaml"))


def test_the_zoo_is_shipped():
    assert {p.stem for p in RECIPES} >= {"demo", "vgg10_baseline", "vgg10_w4a4_32f", "bacalhaunet",
                                         "imperial_ipc1", "ours"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_is_complete(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem and recipe.description
    net = build_net(recipe.net.name, **recipe.net.args)
    assert sum(p.numel() for p in net.parameters()) > 0
    for stage in recipe.compress.stages:
        assert n_steps(stage) >= 1
        if stage.kind == "bits":
            build_net(recipe.net.name, **{**recipe.net.args, **stage.net_args})
