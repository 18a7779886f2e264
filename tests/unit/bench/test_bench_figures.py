# -*- coding: utf-8 -*-
# Copyright: kvmcloud developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's statistics (bench/run.py): the order of the no-op and check runs and the
check-mode verdict. tests/integration/test_bench.py runs the benchmark itself."""

import os
import random
import sys

import pytest

# bench/run.py of the repository: this file is tests/unit/bench/test_bench.py.
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
sys.path.insert(0, os.path.join(REPO, 'bench'))

import run as bench  # noqa: E402  pylint: disable=wrong-import-position


@pytest.mark.parametrize('run', [0, 1, 2])
def test_order_pairs_one_of_each_with_the_first_alternating(run):
    sequence = bench.order(run)
    pairs = [sequence[i:i + 2] for i in range(0, len(sequence), 2)]
    assert len(pairs) == bench.PAIRS
    assert all(sorted(pair) == ['check', 'rerun'] for pair in pairs)
    firsts = [pair[0] for pair in pairs]
    assert all(a != b for a, b in zip(firsts, firsts[1:])), firsts
    assert firsts[0] == ('rerun' if run % 2 == 0 else 'check')


def test_check_diffs_pair_the_ith_samples_of_every_run():
    runs = [{'rerun_samples': [4.0, 5.0], 'check_samples': [4.5, 4.0]},
            {'rerun_samples': [3.0], 'check_samples': [3.25]}]
    assert bench.check_diffs(runs) == [0.5, -1.0, 0.25]


@pytest.mark.parametrize('m, k', [(4, 0), (5, 1), (8, 2), (9, 2), (15, 4), (16, 5), (30, 11)])
def test_bound_rank_is_the_sign_test_order_statistic(m, k):
    # P(Binomial(m, 1/2) < k) <= 0.05 < P(Binomial(m, 1/2) <= k); none below five.
    assert bench.bound_rank(m) == k


def test_check_verdict_fails_when_check_is_measurably_slower():
    rng = random.Random(6)
    diffs = [0.3 + rng.uniform(-0.2, 0.2) for _pair in range(15)]
    passed, line = bench.check_verdict(diffs, 5.3, 5.0)
    assert passed is False, line
    assert 'check slower in 15' in line and 'over 15 pairs' in line


def test_check_verdict_passes_when_the_two_are_the_same_within_noise():
    rng = random.Random(6)
    diffs = [rng.gauss(0, 0.4) for _pair in range(15)]
    passed, line = bench.check_verdict(diffs, 5.0, 5.0)
    assert passed is True, line


def test_check_verdict_fails_on_eleven_of_fifteen_only_with_a_positive_bound():
    # Twelve of fifteen slower is beyond chance (P = 0.018); eleven is not (P = 0.059).
    assert bench.check_verdict([0.1] * 12 + [-0.1] * 3, 5.1, 5.0)[0] is False
    assert bench.check_verdict([0.1] * 11 + [-0.1] * 4, 5.1, 5.0)[0] is True


def test_check_verdict_without_enough_pairs_is_not_judged():
    passed, line = bench.check_verdict([0.1, 0.2, 0.3], 5.2, 5.0)
    assert passed is None and 'needs at least 5 pairs' in line
