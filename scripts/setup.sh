#!/usr/bin/env bash
# Set up a fresh machine: Fashion-MNIST from Debian (the offline real data the
# main job trains on) and a virtual environment with keras_resnet (PyPI: resnet-keras)
# installed with every extra and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi

VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# keras-resnet (keras_resnet, as pip normalises it) installs the same import name: this package before its
# rename, or PyPI's unrelated Keras 2 project. Either would shadow or overwrite keras_resnet.
if "$VENV/bin/python" -m pip show -q keras-resnet >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -q -y keras-resnet
fi
"$VENV/bin/python" -m pip install -q -e ".[tests]"
echo "keras_resnet installed in $VENV: the command is $VENV/bin/keras-resnet"
