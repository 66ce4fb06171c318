"""What a run reports: per-class accuracy, and a figure per file (curves, confusion matrix, wrong images) that names
what it shows. Each figure is caught before it is saved and read back."""

import numpy as np
import pytest

from keras_resnet.train import reports

NAMES = ["T-shirt/top", "Trouser", "Pullover"]


@pytest.fixture
def figures(monkeypatch):
    """The figures the reports save, kept open to read."""
    saved = []
    original = reports._save

    def keep(fig, png_path):
        saved.append(fig)
        fig.canvas.draw()
        texts = [t.get_text() for t in fig.findobj(match=lambda o: hasattr(o, "get_text"))]
        fig.texts_drawn = [t for t in texts if t]
        return original(fig, png_path)

    monkeypatch.setattr(reports, "_save", keep)
    return saved


def test_confusion_and_per_class_accuracy_count_each_true_class():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 2, 1, 0, 2, 2])
    matrix = reports.confusion_matrix(labels, predicted, 3)
    assert matrix.tolist() == [[3, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert reports.per_class_accuracy(matrix, NAMES) == {"T-shirt/top": 0.75, "Trouser": 0.5, "Pullover": 1.0}
    # A class without test images has no accuracy (not 0/0).
    assert reports.per_class_accuracy(reports.confusion_matrix(labels[:4], predicted[:4], 3), NAMES) == {
        "T-shirt/top": 0.75}


def test_the_confusion_matrix_figure_is_normalised_and_names_the_classes(figures, tmp_path):
    matrix = np.array([[3, 0, 1], [1, 1, 0], [0, 0, 2]])
    path = reports.plot_confusion_matrix(matrix, NAMES, str(tmp_path / "confusion_matrix.png"), "net on data")
    assert path == str(tmp_path / "confusion_matrix.png") and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert ax.images[0].get_array().tolist() == [[0.75, 0, 0.25], [0.5, 0.5, 0], [0, 0, 1]]
    assert {"0.75", "0.25", "0.50", "1.00"} <= set(fig.texts_drawn)


def test_a_confusion_matrix_of_many_classes_shows_the_weakest_by_name(figures, tmp_path):
    names = [f"class{i}" for i in range(40)]
    matrix = np.diag(np.arange(1, 41)) + 2  # class i is right i + 3 times out of i + 3 + 78: weakest first
    reports.plot_confusion_matrix(matrix, names, str(tmp_path / "m.png"), "t")
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names[:reports.MAX_MATRIX_CLASSES]
    assert "the 30 weakest of 40 classes" in ax.get_title()


def test_the_errors_figure_titles_each_image_with_its_true_and_predicted_class(figures, tmp_path):
    images = np.zeros((5, 8, 8, 1), np.uint8)
    reports.plot_errors(images, [0, 1, 2, 0, 1], [1, 2, 0, 2, 0], [0.9, 0.8, 0.7, 0.6, 0.5], NAMES,
                        str(tmp_path / "errors.png"), "net: the 5 most confidently wrong")
    (fig,) = figures
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["true: T-shirt/top\npredicted: Trouser (0.90)", "true: Trouser\npredicted: Pullover (0.80)",
                      "true: Pullover\npredicted: T-shirt/top (0.70)", "true: T-shirt/top\npredicted: Pullover (0.60)",
                      "true: Trouser\npredicted: T-shirt/top (0.50)"]
    assert len(fig.axes) == 8  # a 2 x 4 grid, the last three left empty


def test_the_curves_name_only_what_the_history_holds_and_mark_the_test_accuracy(figures, tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.5,NA,NA\n1,0.75,1.0,NA,NA\n")
    reports.plot_history(str(history), str(tmp_path / "curves.png"), "net", test_accuracy=0.8)
    loss, accuracy = figures[0].axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["training loss"]
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == ["training accuracy",
                                                                         "test accuracy 0.8000"]
    assert accuracy.lines[-1].get_xydata().tolist() == [[2.0, 0.8]]


def test_the_summary_names_the_weakest_class_and_the_budget_line_the_time_used():
    result = dict(test_loss=0.5, test_accuracy=0.9, epochs_run=3, initial_epoch=0, final_model="m.keras",
                  per_class_accuracy={"Trouser": 0.95, "Shirt": 0.7}, weakest_class="Shirt",
                  seconds=dict(setup=20.0, training=800.0, after_training=15.0, export=40.0, total=875.0),
                  budget=dict(seconds=900.0, total_steps=3500, corrected=True))
    assert "; weakest class Shirt (0.7000)" in reports.training_summary("resnet8", "fashion_mnist", result)
    assert reports.budget_summary(result) == (
        "Time: 14m35s of the 15m budget (20s data, measurement and model, 13m20s training, 15s evaluation and "
        "figures, 40s export); 3,500 steps planned, corrected after epoch 1")
    result["budget"]["stopped_at_deadline"] = 3456
    assert reports.budget_summary(result).endswith("corrected after epoch 1, stopped at its deadline at step 3,456")
