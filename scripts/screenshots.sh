#!/usr/bin/env bash
# Regenerates the README's pictures, docs/screenshots/login.png and docs/screenshots/chat.png, from the
# browser test that has two people talking (Chromium at 960x640). Needs what the e2e tests need: the
# services (started here if they are not running, and left running) and /usr/bin/chromium.
#
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The load balancer is not needed for the pictures.
eval "$(LB_PORT=off scripts/services.sh start)"
SINCHCHAT_SCREENSHOTS=1 CHAT_REQUIRE_SERVICES=1 uv run pytest -m e2e -q \
    "tests/e2e/test_browser_chat.py::test_two_people_see_each_others_messages_live" "$@"
ls -l docs/screenshots/login.png docs/screenshots/chat.png
echo "services are still running; stop them with: scripts/services.sh stop" >&2
