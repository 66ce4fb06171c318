import dataclasses

import pytest

from keras_resnet.arch import saved_specs, specs


@pytest.mark.parametrize("name", ["resnet50", "resnet20", "preact_resnet164", "wrn28_10", "seresnext50_32x4d"])
def test_a_spec_round_trips_through_its_config(name):
    spec = specs.get_spec(name)
    assert saved_specs.spec_from_config(saved_specs.spec_config(spec)) == spec


def test_a_config_saved_before_the_renames_still_reads():
    # Files of version 0.2 hold `family` (now `layout`) and the published count `params` (now in the tests).
    old = dataclasses.asdict(specs.get_spec("resnet20"))
    old["family"] = old.pop("layout")
    old["params"] = 269_722
    assert saved_specs.spec_from_config(old) == specs.get_spec("resnet20")


def test_a_malformed_or_unbounded_config_is_refused_in_one_line():
    config = saved_specs.spec_config(specs.get_spec("resnet20"))
    with pytest.raises(ValueError, match=r"^The network's spec is malformed \(KeyError: 'stages'\): the file is damaged"):
        saved_specs.spec_from_config({k: v for k, v in config.items() if k != "stages"})
    with pytest.raises(ValueError, match=r"asks for stage blocks=5000, over the 4096 that bounds a spec read from a "):
        saved_specs.spec_from_config(dict(config, stages=[dict(filters=16, blocks=5000, stride=1)]))
