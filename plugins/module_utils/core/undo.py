# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking back what a failed step made, so nothing is left half-created, and never hiding
the error that caused it.

::

    with Undo('server %s' % name) as undo:
        root = create_root_disk()
        undo.add('delete its root disk', root.delete, 0)
        define_domain()

When the block raises, the steps added run newest first, each one best effort, and the error
is raised again; the steps that failed are named in its ``undo_failures`` (and its message,
for a :class:`KvmcloudError`). When the block ends normally, everything is kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmcloud.cloud.plugins.module_utils.core.errors import KvmcloudError


def best_effort(func, *args):
    """``func(*args)``, or None when it raises: for clean-up whose failure must not replace the
    error being handled."""
    try:
        return func(*args)
    except Exception:  # pylint: disable=broad-except
        return None


class Undo:
    """Steps that take back what the work in the ``with`` block made, run if the block fails."""

    def __init__(self, what=None):
        self.what = what
        self._steps = []
        self.failures = []

    def add(self, what, func, *args):
        """Take back one thing with ``func(*args)`` if what follows fails; ``what`` names it."""
        self._steps.append((what, func, args))

    def keep(self):
        """Forget the steps: what was made stays, whatever happens next."""
        self._steps = []

    def run(self):
        """Run the steps newest first, each best effort; the failures as ``'<what>: <error>'``."""
        failures = []
        while self._steps:
            what, func, args = self._steps.pop()
            try:
                func(*args)
            except Exception as err:  # pylint: disable=broad-except
                failures.append('%s: %s' % (what, getattr(err, 'msg', None) or err))
        self.failures.extend(failures)
        return failures

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None:
            self.keep()
            return False
        failures = self.run()
        if failures and isinstance(exc, KvmcloudError):
            subject = ' of %s' % self.what if self.what else ''
            exc.msg = '%s; undoing the changes%s failed too: %s' % (exc.msg, subject, '; '.join(failures))
            exc.args = (exc.msg,)
            exc.details['undo_failures'] = list(exc.details.get('undo_failures', [])) + failures
        return False
