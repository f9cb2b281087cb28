#!/usr/bin/env bash
# Tools the tests call that are not npm packages. Installed from Debian's packages when missing;
# safe to run repeatedly.
#   docker-compose   validates docker/compose.yml (`docker-compose config`); no Docker engine is needed
#   chromium         drives the operator-page test (test/e2e) through playwright-core
#   mosquitto_pub    a real MQTT client for the MQTT test (test/integration/mqtt.test.ts)
#   wrk              HTTP load for bench/api-vs-seed.ts (issue 16), the same client for both servers
set -euo pipefail

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "tools: cannot install $* (not root, no sudo); the tests that need it will say so" >&2
    return 0
  fi
  local run=(); [ "$(id -u)" = 0 ] || run=(sudo)
  if [ "$apt_updated" = 0 ]; then "${run[@]}" apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if command -v docker-compose >/dev/null; then
  echo "tools: $(docker-compose version --short 2>/dev/null || echo present) docker-compose"
else
  apt_install docker-compose
  command -v docker-compose >/dev/null && echo "tools: installed docker-compose $(docker-compose version --short 2>/dev/null)"
fi

# Issue 7: the operator-page test launches /usr/bin/chromium (playwright-core downloads no browser).
if [ -x /usr/bin/chromium ]; then
  echo "tools: chromium present"
else
  apt_install chromium
  [ -x /usr/bin/chromium ] && echo "tools: installed chromium"
fi

# Issue 12: MQTT devices are tested with a client no one here wrote (Debian's mosquitto-clients).
if command -v mosquitto_pub >/dev/null; then
  echo "tools: mosquitto_pub present"
else
  apt_install mosquitto-clients
  command -v mosquitto_pub >/dev/null && echo "tools: installed mosquitto-clients"
fi

# Issue 15: the original-structs client (test/compat/original-client) is built with Debian's Go.
if command -v go >/dev/null; then
  echo "tools: $(go version)"
else
  apt_install golang-go
  command -v go >/dev/null && echo "tools: installed $(go version)"
fi

# Issue 16: bench/api-vs-seed.ts loads both servers with wrk (Debian's package).
if command -v wrk >/dev/null; then
  echo "tools: wrk present"
else
  apt_install wrk
  command -v wrk >/dev/null && echo "tools: installed wrk"
fi
