# The two set-up commands (each creates and fills .venv on a fresh machine):
#   make demo   - the main job: the MLOps cycle on the packaged model and data
#   make test   - the test suite (what CI runs)
.PHONY: demo test test-fast venv clean

venv:
	bash scripts/setup_venv.sh

demo: venv
	bash scripts/demo.sh

test: venv
	bash scripts/run_tests.sh

test-fast: venv
	.venv/bin/python -m pytest -q -m "not slow and not postgres" tests

clean:
	rm -rf artifacts runs studies logs
