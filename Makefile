# phonesim: two commands on a fresh Debian machine.
#   make demo   a complete loopback call on the embedded defaults
#   make console  the demo facility with its console in a browser (prints the address and logins)
#   make test   every test, with a private PulseAudio for the real-audio tests
#   make bench  the benchmarks (DTMF vs spandsp and multimon-ng, engine capacity)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

# Debian packages the tests need: PortAudio headers (PyAudio builds from source),
# the PulseAudio null-sink server, espeak-ng/sox (prompts), codec2-examples (real
# speech for talk-off), spandsp/multimon-ng (benchmark peers), tmux (terminal tests),
# baresip and SIPp (SIP peers), PostgreSQL (the tests start a private server of their own),
# Chromium (the console's browser tests drive it through Playwright; no browser download);
# real recordings for the three-way corpus: voices (pocketsphinx-testdata,
# asterisk-core-sounds-en-wav), music on hold (asterisk-moh-opsound-wav), field recordings,
# game music and household sounds (lincity-ng-data, frozen-bubble-data,
# sound-theme-freedesktop; sox decodes their Ogg).
TEST_DEBS := gcc make portaudio19-dev libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils \
             espeak-ng sox codec2-examples libspandsp-dev multimon-ng tmux socat \
             baresip-core sip-tester systemd pocketsphinx-testdata postgresql chromium fonts-dejavu-core \
             asterisk-core-sounds-en-wav asterisk-moh-opsound-wav lincity-ng-data frozen-bubble-data \
             sound-theme-freedesktop
DEMO_DEBS := $(empty)

.PHONY: demo console test bench lint debs venv-demo venv-dev clean

$(VENV)/.demo-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev,audio,hid,plot,sip,postgresql,console]'
	touch $(VENV)/.demo-installed $(VENV)/.console-installed $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/phonesim demo

$(VENV)/.console-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[console]'
	touch $@

console: $(VENV)/.console-installed
	$(VENV)/bin/phonesim facility --demo --console

debs:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make test needs these Debian packages; run:"; \
	    echo "  sudo apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing; \
	fi

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

# The private PulseAudio is started here and stopped by PID whatever pytest returns.
test: debs $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	@eval "$$(bash tests/audio_server.sh start)"; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PHONESIM_REQUIRE_AUDIO=$${PHONESIM_REQUIRE_AUDIO:-1} \
	  PHONESIM_REQUIRE_POSTGRES=$${PHONESIM_REQUIRE_POSTGRES:-1} \
	  $(PY) -m pytest -q $(PYTEST_ARGS); status=$$?; \
	bash tests/audio_server.sh stop "$$PHONESIM_AUDIO_DIR"; exit $$status

bench: debs $(VENV)/.dev-installed
	@eval "$$(bash tests/audio_server.sh start)"; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m benchmarks; status=$$?; \
	bash tests/audio_server.sh stop "$$PHONESIM_AUDIO_DIR"; exit $$status

clean:
	rm -rf $(VENV) phonesim-data benchmarks/out .pytest_cache .ruff_cache
