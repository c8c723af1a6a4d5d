#!/usr/bin/env bash
# Regenerates the README's pictures in docs/screenshots/ (login, chat, and a conversation with formatting,
# reactions, presence and typing in light and dark mode) from the browser tests that make them (Chromium at
# 960x640). Needs what the e2e tests need: the
# services (started here if they are not running, and left running) and /usr/bin/chromium.
#
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The load balancer is not needed for the pictures.
eval "$(LB_PORT=off scripts/services.sh start)"
SINCHCHAT_SCREENSHOTS=1 CHAT_REQUIRE_SERVICES=1 uv run pytest -m e2e -q \
    "tests/e2e/test_browser_chat.py::test_two_people_see_each_others_messages_live" \
    "tests/e2e/test_showcase.py" "$@"
ls -l docs/screenshots/{login,chat,conversation,conversation-dark}.png
echo "services are still running; stop them with: scripts/services.sh stop" >&2
