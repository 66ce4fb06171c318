import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.train import optimizers, recipes


def lr_at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_paper_cifar_schedule_boundaries():
    recipe = recipes.get_recipe("cifar")
    run = recipes.for_run(recipe, batch_size=128, num_train=45_000, depth=56)
    assert (run.total_steps, run.boundaries, run.warmup_steps) == (64_000, (32_000, 48_000), 0)
    schedule = optimizers.make_schedule(recipe, run)
    assert [lr_at(schedule, s) for s in (0, 31_999, 32_001, 47_999, 48_001, 63_999)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_resnet110_warms_up_at_0_01_for_400_iterations():
    recipe = recipes.get_recipe("cifar")
    run = recipes.for_run(recipe, batch_size=128, num_train=45_000, depth=110)
    schedule = optimizers.make_schedule(recipe, run)
    assert run.warmup_steps == 400
    assert [lr_at(schedule, s) for s in (0, 399, 400, 32_001)] == pytest.approx([0.01, 0.01, 0.1, 0.01])


def test_schedule_rescales_with_batch_size_and_epochs():
    recipe = recipes.get_recipe("cifar")
    run = recipes.for_run(recipe, batch_size=256, num_train=45_000, depth=110)
    assert (run.learning_rate, run.total_steps, run.boundaries, run.warmup_steps) == (0.2, 32_000, (16_000, 24_000), 200)
    run = recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, epochs=4)
    assert (run.total_steps, run.boundaries) == (40, (20, 30))
    run = recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, train_steps=7, learning_rate=0.05)
    assert (run.total_steps, run.learning_rate) == (7, 0.05)


def test_warmup_steps_override_is_linear_on_any_depth():
    recipe = recipes.get_recipe("cifar")
    run = recipes.for_run(recipe, batch_size=128, num_train=10_000, depth=56, epochs=4, warmup_steps=78)
    assert (run.total_steps, run.boundaries, run.warmup_steps, run.warmup) == (312, (156, 234), 78, "linear")
    schedule = optimizers.make_schedule(recipe, run)
    assert [lr_at(schedule, s) for s in (0, 38, 77, 78, 156, 157, 235)] == pytest.approx(
        [0.1 / 78, 0.1 * 39 / 78, 0.1, 0.1, 0.1, 0.01, 0.001])
    # 0 turns the recipe's own warm-up off; an explicit length is kept exactly, up to the whole run.
    assert recipes.for_run(recipe, batch_size=128, num_train=45_000, depth=110, warmup_steps=0).warmup_steps == 0
    kept = recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, epochs=2, warmup_steps=15)
    assert (kept.total_steps, kept.warmup_steps, kept.warmup_cut_from) == (20, 15, None)
    with pytest.raises(ValueError, match=r"--warmup_steps=50 is longer than this run's 20 steps: give at most 20"):
        recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, epochs=2, warmup_steps=50)
    # Only the recipe's own warm-up adapts: ResNet-110's 400 steps cut to half a 20-step run, and said so.
    cut = recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=110, epochs=2)
    assert (cut.warmup_steps, cut.warmup_cut_from) == (10, 400)
    # A caller's default (reproduce.py's 78) is linear on any depth and adapts the same way.
    cut = recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, epochs=2, default_warmup_steps=78)
    assert (cut.warmup_steps, cut.warmup_cut_from, cut.warmup) == (10, 78, "linear")
    whole = recipes.for_run(recipe, batch_size=128, num_train=10_000, depth=20, epochs=4, default_warmup_steps=78)
    assert (whole.warmup_steps, whole.warmup_cut_from) == (78, None)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0. Received: warmup_steps=-1"):
        recipes.for_run(recipe, batch_size=128, num_train=1_280, depth=20, warmup_steps=-1)


def test_imagenet_recipe_linear_warmup_for_large_batches():
    recipe = recipes.get_recipe("imagenet")
    run = recipes.for_run(recipe, batch_size=1024, num_train=1_281_167, depth=50)
    assert run.learning_rate == pytest.approx(0.4)
    assert run.steps_per_epoch == 1251 and run.total_steps == 90 * 1251
    assert run.boundaries == (30 * 1251, 60 * 1251, 80 * 1251)
    schedule = optimizers.make_schedule(recipe, run)
    assert lr_at(schedule, 0) == pytest.approx(0.4 / run.warmup_steps)
    assert lr_at(schedule, run.warmup_steps) == pytest.approx(0.4)
    assert recipes.for_run(recipe, batch_size=256, num_train=1_281_167, depth=50).warmup_steps == 0


def test_wrn_recipe_is_zagoruyko_and_komodakis():
    recipe = recipes.get_recipe("wrn")
    assert (recipe.nesterov, recipe.weight_decay, recipe.epochs) == (True, 5e-4, 200)
    run = recipes.for_run(recipe, batch_size=128, num_train=50_000, depth=28)
    assert run.steps_per_epoch == 390 and run.boundaries == (60 * 390, 120 * 390, 160 * 390)  # drop_remainder
    schedule = optimizers.make_schedule(recipe, run)
    assert [lr_at(schedule, s) for s in (0, 60 * 390 + 1, 120 * 390 + 1, 160 * 390 + 1)] == pytest.approx(
        [0.1, 0.02, 0.004, 0.0008])
    assert run.warmup_steps == 0


def test_fast_recipe_is_cosine_with_warmup():
    recipe = recipes.get_recipe("fast")
    run = recipes.for_run(recipe, batch_size=128, num_train=12_800, depth=20, epochs=10)
    schedule = optimizers.make_schedule(recipe, run)
    assert run.warmup_steps == 200
    assert lr_at(schedule, 200) == pytest.approx(0.1)
    assert lr_at(schedule, 999) < 1e-3


def test_weight_decay_is_an_l2_loss_on_kernels_only():
    model = keras_resnet.build("resnet", depth=8)
    optimizers.apply_weight_decay(model, 1e-4)
    kernels = [l.kernel for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    expected = sum(0.5e-4 * float(np.sum(keras.ops.convert_to_numpy(k) ** 2)) for k in kernels)
    assert len(model.losses) == len(kernels) == 8
    assert float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)) == pytest.approx(expected, rel=1e-5)


def test_warmup_schedule_serialises():
    schedule = optimizers.Warmup(keras.optimizers.schedules.PiecewiseConstantDecay([10], [1.0, 0.1]), 5,
                              "constant", 0.01)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert [lr_at(clone, s) for s in (0, 5, 11)] == pytest.approx([0.01, 1.0, 0.1])


def test_bad_recipe_inputs():
    with pytest.raises(ValueError, match="Unknown recipe 'paper'; known: cifar, imagenet, wrn, fast"):
        recipes.get_recipe("paper")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        recipes.for_run(recipes.get_recipe("cifar"), 128, 100, 20, epochs=0)


def test_fewer_training_images_than_a_batch_is_refused_naming_the_smallest_data_set():
    """An epoch steps on whole batches: 32 images at batch 64 would train no step and report success."""
    with pytest.raises(ValueError, match=r"^--batch_size=64 is more than the 32 training images .* it would train no "
                                         r"step\. Give at least 64 training images, or a --batch_size of at most 32\.$"):
        recipes.for_run(recipes.get_recipe("fast"), 64, 32, 8, epochs=1)
    assert recipes.for_run(recipes.get_recipe("fast"), 64, 64, 8, epochs=1).steps_per_epoch == 1
    assert recipes.steps_in_an_epoch(130, 64) == 2  # the last partial batch is dropped
