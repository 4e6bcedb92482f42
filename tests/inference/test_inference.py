import numpy as np
import pytest

from bayes_hcl.config import ModelConfig, SVIConfig
from bayes_hcl.inference.base import default_progress
from bayes_hcl.inference.relabel import relabel_draws
from bayes_hcl.inference.svi.recovery import Recovery
from bayes_hcl.inference.svi.restarts import (
    allocate_draws,
    coarsening_power,
    merge_candidates,
    prune,
    prune_fractions,
    restart_weights,
)


def test_relabel_draws_undoes_a_permutation_and_sorts_by_weight():
    rng = np.random.default_rng(0)
    reference = np.eye(3)[rng.integers(0, 3, 50)]
    perm = np.array([2, 0, 1])
    draws = {
        "membership": np.stack([reference, reference[:, perm]]),
        "log_weights": np.log(np.stack([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3][::1]])),
        "b": np.stack([np.arange(3.0), np.arange(3.0)[perm]])[:, :, None],
        "phi": np.zeros((2, 4)),
    }
    draws["log_weights"][1] = draws["log_weights"][0][perm]
    out = relabel_draws(draws, reference)
    np.testing.assert_array_equal(out["membership"][0], out["membership"][1])
    np.testing.assert_array_equal(out["b"][0], out["b"][1])
    # sorted by decreasing weight: the cluster of weight 0.5 comes first
    np.testing.assert_allclose(np.exp(out["log_weights"][0]), [0.5, 0.3, 0.2])
    np.testing.assert_array_equal(out["phi"], draws["phi"])


def test_allocation_and_restart_weights():
    w = restart_weights(np.array([-10.0, -10.0, -12.0, -np.inf]))
    np.testing.assert_allclose(w.sum(), 1.0)
    assert w[0] == w[1] > w[2] > w[3] == 0.0
    restarts = allocate_draws(w, 100)
    assert len(restarts) == 100
    assert np.bincount(restarts, minlength=4).tolist() == [47, 47, 6, 0]
    with pytest.raises(FloatingPointError, match="non-finite ELBO"):
        restart_weights(np.array([np.nan, -np.inf]))


def test_progress_off_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert default_progress() is False
    monkeypatch.setenv("CI", "")
    assert default_progress() is True


def test_every_other_restart_prunes_with_the_merge_fraction():
    cfg = SVIConfig(num_restarts=5, prune_fraction=0.03, merge_fraction=0.15)
    np.testing.assert_allclose(prune_fractions(cfg), [0.03, 0.15, 0.03, 0.15, 0.03])
    partition = np.array([[0] * 80 + [1] * 12 + [2] * 8, [0] * 80 + [1] * 12 + [2] * 8])
    fractions = np.array([0.03, 0.15])
    active = prune({"partition": partition}, np.ones((2, 4)), fractions, ModelConfig())
    # restart 0 keeps the 12 % and 8 % clusters; restart 1 merges both into the largest
    np.testing.assert_array_equal(np.asarray(active), [[1, 1, 1, 0], [1, 0, 0, 0]])


def test_several_factors_prune_states_of_a_factor_not_single_joint_states():
    # 2 factors x 2 states: joint states (0,0) (0,1) (1,0) (1,1); factor 0's state 1 holds
    # 10 % of the rows, factor 1's states 50 % each, joint state (1,1) only 4 %
    partition = np.array([[0] * 45 + [1] * 45 + [2] * 6 + [3] * 4] * 2)
    cfg = ModelConfig(latent_factors=2, max_clusters=2)
    active = prune({"partition": partition}, np.ones((2, 4)), np.array([0.05, 0.15]), cfg)
    # a 5 % threshold keeps all (no joint state alone is pruned); 15 % drops factor 0's
    # state 1 and both joint states it is part of
    np.testing.assert_array_equal(np.asarray(active), [[1, 1, 1, 1], [1, 1, 0, 0]])


def _summary(score, partitions):
    return {"score": np.asarray(score, float), "partition": np.asarray(partitions)}


def test_merge_candidates_continue_the_best_restart_without_its_smallest_clusters():
    # restart 1 is best with four clusters of 50, 30, 15 and 5 rows; restart 3 is forced K = 1
    best = [0] * 50 + [1] * 30 + [2] * 15 + [3] * 5
    summary = _summary([-120.0, -100.0, -150.0, -110.0], [[0] * 100, best, [0] * 100, [0] * 100])
    active = np.ones((4, 6))
    active[3, 1:] = 0.0
    forced = np.array([False, False, False, True])
    sources, new = merge_candidates(summary, active, forced, slots=2)
    # the two free restarts are replaced, the worst (2) first: one and two clusters fewer
    np.testing.assert_array_equal(sources, [1, 1, 1, 3])
    np.testing.assert_array_equal(np.asarray(new)[2], [1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(np.asarray(new)[0], [1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(np.asarray(new)[[1, 3]], active[[1, 3]])


def test_merge_candidates_keep_two_clusters_when_one_cluster_is_forced():
    summary = _summary([-100.0, -120.0, -130.0], [[0] * 60 + [1] * 40] * 3)
    active, forced = np.ones((3, 4)), np.array([False, False, True])
    sources, new = merge_candidates(summary, active, forced, slots=2)
    np.testing.assert_array_equal(sources, [0, 1, 2])  # two occupied: nothing to remove
    np.testing.assert_array_equal(np.asarray(new), active)
    # without a forced one-cluster restart, a candidate may go down to one cluster
    sources, new = merge_candidates(summary, active, np.zeros(3, bool), slots=2)
    np.testing.assert_array_equal(sources, [0, 1, 0])
    np.testing.assert_array_equal(np.asarray(new)[2], [1, 0, 1, 1])


def test_merge_candidates_skip_restarts_given_up():
    summary = _summary([-np.inf, -100.0, -120.0], [[0] * 10] * 3)
    summary["partition"][1] = [0] * 6 + [1] * 3 + [2]
    sources, new = merge_candidates(summary, np.ones((3, 3)), np.zeros(3, bool), slots=2)
    np.testing.assert_array_equal(sources, [1, 1, 1])
    # the restart given up is replaced first: it is the worst
    np.testing.assert_array_equal(np.asarray(new)[[0, 2]], [[1, 1, 0], [1, 0, 0]])


def test_merge_candidates_never_use_or_replace_a_restart_given_up():
    # restart 0 has the best score but was given up after repeated faults: restart 1 is
    # the best usable one, and restart 0 is neither a source nor a target
    summary = _summary([-90.0, -100.0, -120.0, -130.0], [[0] * 6 + [1] * 3 + [2]] * 4)
    given_up = np.array([True, False, False, False])
    sources, new = merge_candidates(
        summary, np.ones((4, 3)), np.zeros(4, bool), slots=2, given_up=given_up
    )
    np.testing.assert_array_equal(sources, [0, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(new)[[3, 2]], [[1, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(np.asarray(new)[0], np.ones(3))
    # every restart given up: nothing moves
    sources, _ = merge_candidates(
        summary, np.ones((4, 3)), np.zeros(4, bool), slots=2, given_up=np.ones(4, bool)
    )
    np.testing.assert_array_equal(sources, np.arange(4))


def test_a_slot_that_continues_another_keeps_its_own_fault_count():
    recovery = Recovery(3)
    recovery.faults[:] = [2, 0, 1]
    recovery.scale[:] = [0.04, 1.0, 0.2]
    recovery.last_loss = np.array([[1.0], [2.0], [3.0]])
    recovery.continue_from(np.array([1, 1, 2]))
    np.testing.assert_array_equal(recovery.faults, [2, 0, 1])  # the slot's history
    np.testing.assert_allclose(recovery.scale, [1.0, 1.0, 0.2])  # the state's step size
    np.testing.assert_array_equal(recovery.last_loss[:, 0], [2.0, 2.0, 3.0])


def test_coarsening_power_follows_miller_and_dunson():
    assert coarsening_power(0.0, 500) == 1.0
    assert coarsening_power(1000.0, 1000) == pytest.approx(0.5)
    assert coarsening_power(1000.0, 10**6) == pytest.approx(1000.0 / 1_001_000.0)
