# -*- coding: utf-8 -*-
"""core/undo.py: taking back what a failed step made, without ever hiding the error that
caused it."""

import pytest

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError, LibvirtCallError
from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.undo import Undo, best_effort


def failing(err):
    def step(*_args):
        raise err
    return step


def test_on_an_error_the_steps_run_newest_first_and_the_error_is_raised_again():
    ran = []
    original = KvmcloudError('defining the domain failed')
    with pytest.raises(KvmcloudError) as err:
        with Undo('server vm1') as undo:
            undo.add('delete the root disk', ran.append, 'root')
            undo.add('delete the seed', ran.append, 'seed')
            undo.add('delete the port', ran.append, 'port')
            raise original
    assert err.value is original
    assert ran == ['port', 'seed', 'root']
    # Nothing failed: the error is untouched.
    assert err.value.msg == 'defining the domain failed'
    assert 'undo_failures' not in err.value.details
    assert undo.failures == []


def test_on_success_everything_is_kept():
    ran = []
    with Undo('server vm1') as undo:
        undo.add('delete the root disk', ran.append, 'root')
        undo.add('delete the seed', ran.append, 'seed')
    assert ran == []
    # The steps are forgotten: running them later does nothing.
    assert undo.run() == []
    assert ran == []


def test_keep_forgets_the_steps_so_a_later_error_takes_nothing_back():
    ran = []
    with pytest.raises(RuntimeError):
        with Undo() as undo:
            undo.add('delete the volume', ran.append, 'volume')
            undo.keep()
            undo.add('delete the clone', ran.append, 'clone')
            raise RuntimeError('later')
    assert ran == ['clone']


def test_a_failing_step_never_hides_the_original_error_and_is_listed():
    ran = []
    original = KvmcloudError('starting the domain failed', hypervisor='hv1')
    with pytest.raises(KvmcloudError) as err:
        with Undo('server vm1') as undo:
            undo.add('delete the root disk', ran.append, 'root')
            undo.add('undefine the domain', failing(RuntimeError('domain is locked')))
            undo.add('delete the port', ran.append, 'port')
            raise original
    assert err.value is original
    assert ran == ['port', 'root']  # the steps after the failing one still run
    assert err.value.details['undo_failures'] == ['undefine the domain: domain is locked']
    assert err.value.details['hypervisor'] == 'hv1'
    assert err.value.msg == ('starting the domain failed; undoing the changes of server vm1 failed too: '
                             'undefine the domain: domain is locked')
    assert str(err.value) == err.value.msg
    assert undo.failures == ['undefine the domain: domain is locked']


def test_every_failing_step_is_listed_newest_first_by_its_message():
    libvirt_failure = LibvirtCallError('delete', 'pool/root.img', 1, 'busy', hypervisor='hv1')
    with pytest.raises(KvmcloudError) as err:
        with Undo() as undo:
            undo.add('delete the root disk', failing(libvirt_failure))
            undo.add('delete the seed', failing(KvmcloudError('seed is gone')))
            raise KvmcloudError('boom')
    assert err.value.details['undo_failures'] == ['delete the seed: seed is gone',
                                                  'delete the root disk: %s' % libvirt_failure.msg]
    # Without a subject, the message does not name one.
    assert err.value.msg.startswith('boom; undoing the changes failed too: delete the seed: seed is gone; ')


def test_earlier_undo_failures_of_the_error_are_kept():
    original = KvmcloudError('boom', undo_failures=['an inner step: failed'])
    with pytest.raises(KvmcloudError) as err:
        with Undo('outer') as undo:
            undo.add('an outer step', failing(ValueError('failed too')))
            raise original
    assert err.value.details['undo_failures'] == ['an inner step: failed', 'an outer step: failed too']


def test_other_errors_pass_through_unchanged_after_the_steps_ran():
    ran = []
    original = KeyError('a bug')
    with pytest.raises(KeyError) as err:
        with Undo('server vm1') as undo:
            undo.add('delete the root disk', ran.append, 'root')
            undo.add('undefine the domain', failing(RuntimeError('locked')))
            raise original
    assert err.value is original
    assert err.value.args == ('a bug',)
    assert ran == ['root']
    assert undo.failures == ['undefine the domain: locked']


def test_run_takes_the_steps_back_once_and_returns_the_failures():
    ran = []
    undo = Undo()
    undo.add('first', ran.append, 1)
    undo.add('second', failing(RuntimeError('no')))
    assert undo.run() == ['second: no']
    assert ran == [1]
    assert undo.run() == []
    assert ran == [1]
    assert undo.failures == ['second: no']


def test_best_effort_returns_the_result_or_none_on_error():
    assert best_effort(lambda a, b: a + b, 1, 2) == 3
    assert best_effort(failing(RuntimeError('x'))) is None
    assert best_effort(failing(KvmcloudError('x')), 'arg') is None
