#!/usr/bin/env bash
# The program's virtualenv (venv/, with the development tools) and, with --policy, the
# policy pack's own (policy/venv: pulumi-policy pins protobuf 5, the program protobuf 6;
# policy/PulumiPolicy.yaml points Pulumi at it). Both platforms' jobs call this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -m venv venv
venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if [ "${1-}" = --policy ]; then
  python -m venv policy/venv
  policy/venv/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
fi
