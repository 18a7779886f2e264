# -*- coding: utf-8 -*-
"""image/files.py's whole-image check with the real qemu-img, and image/download.py's URL rule."""

import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, ValidationError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.download import check_url
from ansible_collections.kvmcloud.cloud.plugins.module_utils.image.files import (
    check_whole_image, inspect_file, qcow2_check_problem)

needs_qemu_img = pytest.mark.skipif(not (shutil.which('qemu-img') and shutil.which('qemu-io')),
                                    reason='qemu-img and qemu-io (qemu-utils) are not installed')


class Controller(SimpleNamespace):
    """The two AnsibleModule methods the check uses, as the controller runs them."""

    def __init__(self, path=None):
        super().__init__(path=path)
        self.commands = []

    def get_bin_path(self, name):
        return shutil.which(name, path=self.path)

    def run_command(self, args):
        self.commands.append(args)
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def make_qcow2(path, truncate_to=None):
    """A 16 MiB qcow2 with 6 MiB of data written (so its clusters fill the file), then cut."""
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), '16M'], check=True)
    subprocess.run(['qemu-io', '-c', 'write -P 0x5a 0 4M', '-c', 'write -P 0x33 8M 2M', str(path)],
                   check=True, capture_output=True)
    if truncate_to is not None:
        os.truncate(path, truncate_to)
    return str(path)


@needs_qemu_img
def test_a_whole_qcow2_passes(tmp_path):
    path = make_qcow2(tmp_path / 'whole.qcow2')
    controller = Controller()
    check_whole_image(controller, path, inspect_file(path), 'tiny', path)
    assert [args[1] for args in controller.commands] == ['check', 'info']


@needs_qemu_img
def test_an_empty_qcow2_passes(tmp_path):
    # 196616 bytes, not a whole number of clusters: qemu-img check's end offset is rounded up.
    path = str(tmp_path / 'empty.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '64M'], check=True)
    check_whole_image(Controller(), path, inspect_file(path), 'tiny', path)


@needs_qemu_img
def test_a_truncated_qcow2_is_refused_with_the_image_the_source_and_what_qemu_img_said(tmp_path):
    path = make_qcow2(tmp_path / 'cut.qcow2', truncate_to=3 * 1024 * 1024)
    content = inspect_file(path)
    assert content.disk_format == 'qcow2'  # the header alone looks fine
    with pytest.raises(ValidationError) as err:
        check_whole_image(Controller(), path, content, 'tiny', 'https://example.org/tiny.qcow2')
    msg = err.value.msg
    assert msg.startswith('image tiny: https://example.org/tiny.qcow2 is not a whole qcow2 image (truncated or '
                          'damaged): qemu-img check exited with 2 (')
    assert 'corruptions' in msg and 'exceeding the end of the file' in msg
    assert 'download or build the image again' in msg


@needs_qemu_img
def test_a_qcow2_cut_inside_its_tables_is_refused(tmp_path):
    path = make_qcow2(tmp_path / 'short.qcow2', truncate_to=70000)
    with pytest.raises(ValidationError, match='is not a whole qcow2 image'):
        check_whole_image(Controller(), path, inspect_file(path), 'tiny', path)


def test_raw_content_is_not_checked(tmp_path):
    path = tmp_path / 'disk.raw'
    path.write_bytes(b'\0' * 4096)
    controller = Controller(path='/nonexistent')
    check_whole_image(controller, str(path), inspect_file(str(path)), 'tiny', str(path))
    assert controller.commands == []


def test_without_qemu_img_the_error_says_what_to_install(tmp_path):
    path = tmp_path / 'x.qcow2'
    path.write_bytes(b'QFI\xfb' + b'\0\0\0\3' + b'\0' * 4088)
    with pytest.raises(KvmcloudError, match='qemu-img is needed on the controller.*qemu-utils on Debian'):
        check_whole_image(Controller(path='/nonexistent'), str(path), inspect_file(str(path)), 'tiny', str(path))


@pytest.mark.parametrize('rc, out, err, words', [
    (0, '{"check-errors": 0, "image-end-offset": 262144}', '', None),
    (3, '{"leaks": 4, "image-end-offset": 100}', 'Leaked cluster 7', None),
    (2, '{"corruptions": 5}', 'ERROR: x\nERROR: y', 'qemu-img check exited with 2 (5 corruptions): ERROR: x'),
    (0, '{"check-errors": 2}', '', 'qemu-img check exited with 0 (2 check-errors)'),
    (1, '', 'qemu-img: Could not open x', 'qemu-img check exited with 1: qemu-img: Could not open x'),
])
def test_what_qemu_img_check_reports(rc, out, err, words):
    problem = qcow2_check_problem(rc, out, err)
    assert problem == words if words is None else words in problem


@pytest.mark.parametrize('url', ['http://example.org/x.qcow2', 'https://example.org:8443/x?y=1', 'HTTPS://h/x'])
def test_http_urls_are_accepted(url):
    assert check_url(url) == url


@pytest.mark.parametrize('url, words', [
    ('file:///etc/shadow', 'is a file:// URL; url takes http:// and https:// URLs only. For a file on the '
                           'controller, give its path as filename instead'),
    ('FILE:///tmp/x.qcow2', 'is a file:// URL'),
    ('ftp://example.org/x.qcow2', 'is not an http:// or https:// URL with a host'),
    ('/tmp/x.qcow2', 'is not an http:// or https:// URL'),
    ('https:///x.qcow2', 'with a host'),
    ('http://[::1', 'is not a valid URL'),
])
def test_other_urls_are_refused_and_say_what_to_use(url, words):
    with pytest.raises(ValidationError) as err:
        check_url(url)
    assert words in err.value.msg
