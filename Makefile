# kvmcloud.cloud — the two commands of the README are `make cloud` and `make test`.
#
# Both start from a bare Debian 12 machine: they install what the controller needs (a
# Python virtual environment with the pinned tools), then Ansible does the rest.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV ?= $(ROOT)/.venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/collections
# No network round trip to Galaxy on every run.
export ANSIBLE_GALAXY_DISABLE_GPG_VERIFY := 1

# Debian packages the controller needs: libvirt-python is built into the virtual environment,
# and the image module checks qcow2 images with qemu-img (qemu-utils).
CONTROLLER_DEBS := gcc pkg-config libvirt-dev git shellcheck qemu-utils

.PHONY: help cloud test venv hypervisor image debian-image unit integration sanity lint molecule build clean bench bench-rerun bench-payload bench-inventory

help:
	@echo "make cloud  - install, set this machine up as a hypervisor and bring the cloud up"
	@echo "make test   - install, then run lint, sanity, unit, Molecule and integration tests"
	@echo "make bench  - after make cloud: the fleet benchmark (docs/performance.md)"
	@echo "make bench-rerun  - after make cloud: a second make cloud against a ping playbook"
	@echo "make bench-payload - what each module carries and what it costs to build and load"
	@echo "make bench-inventory - after make cloud: ansible-inventory at 10 and 100 servers, and against community.libvirt"

cloud: venv
	ansible-playbook playbooks/site.yml

test: venv
	$(MAKE) lint sanity unit molecule integration

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@if ! dpkg -s $(CONTROLLER_DEBS) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CONTROLLER_DEBS); \
	fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

hypervisor: venv
	ansible-playbook playbooks/hypervisors.yml

# The tiny guest image (docs/tiny-image.md), into build/images/.
image: venv
	ansible-playbook playbooks/tiny_image.yml

# The Debian 12 guest image with cloud-init (roles/debian_image), into build/images/.
debian-image: venv
	ansible-playbook playbooks/debian_image.yml

unit: venv
	pytest -q tests/unit

integration: venv
	pytest -q -m integration --durations=10 --junitxml=build/reports/integration.xml tests/integration

sanity: venv
	tests/sanity.sh

lint: venv
	ansible-lint

molecule: venv
	molecule test --all

# The fleet benchmark against community.libvirt and libvirt-python (docs/performance.md), on this
# machine's hypervisor as make cloud sets it up. BENCH_ARGS="--sizes 10 --runs 1" for a quick look.
BENCH_ARGS ?=
bench: venv image
	python bench/run.py $(BENCH_ARGS)

# The user's re-run, site.yml against a ping playbook (docs/performance.md), after make cloud.
bench-rerun: venv
	python bench/rerun.py

# ansible-inventory over the cloud's servers against community.libvirt's inventory plugin.
bench-inventory: venv image
	python bench/inventory.py $(BENCH_ARGS)

bench-payload: venv
	python bench/payload.py

build: venv
	mkdir -p build && ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build tests/output
