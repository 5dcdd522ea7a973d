"""Prompt dropping and adaptive advance: the monitor's decisions and the sampler that acts on them."""

from __future__ import annotations

import json
import math

from dart_trl.grpo.curriculum import FilteredRepeatSampler
from dart_trl.grpo.monitor import CurriculumOptions, StageMonitor


def test_uniform_groups_are_dropped_after_patience():
    monitor = StageMonitor(CurriculumOptions(drop_uniform_prompts=True, drop_patience=2))
    # prompt 0: all wrong; 1: mixed; 2: all correct; 3: all unscorable (None -> NaN) -> no verdict
    ids = [0, 0, 1, 1, 2, 2, 3, 3]
    signal = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, math.nan, math.nan]
    monitor.record(ids, signal, signal)
    assert monitor.dropped == set()
    monitor.record(ids, signal, signal)
    assert monitor.dropped == {0, 2}
    # A mixed group resets the streak.
    monitor.record([1, 1], [0.0, 0.0], [0.0, 0.0])
    monitor.record([1, 1], [1.0, 0.0], [1.0, 0.0])
    monitor.record([1, 1], [0.0, 0.0], [0.0, 0.0])
    assert 1 not in monitor.dropped


def test_running_reward_and_advance_over_a_full_window():
    monitor = StageMonitor(CurriculumOptions(advance_reward_threshold=0.5, advance_window=3))
    for batch_mean in (0.9, 0.9):
        monitor.record([0, 0], [0.0, 1.0], [batch_mean, batch_mean])
        assert not monitor.should_advance()  # window not full yet
    monitor.record([0, 0], [0.0, 1.0], [0.0, math.nan])  # NaN (unscorable) rows are left out
    assert math.isclose(monitor.running_reward, 0.6)
    assert monitor.should_advance()
    monitor.record([0, 0], [0.0, 1.0], [0.0, 0.0])
    assert not monitor.should_advance()  # 0.9, 0.0, 0.0


def test_sampler_skips_dropped_prompts_and_keeps_group_layout():
    monitor = StageMonitor(CurriculumOptions(drop_uniform_prompts=True))
    sampler = FilteredRepeatSampler(
        monitor,
        data_source=list(range(10)),
        mini_repeat_count=3,
        batch_size=2,
        repeat_count=2,
        shuffle=True,
        seed=0,
    )
    full = list(sampler)
    assert len(full) == len(sampler) == 10 * 3 * 2
    monitor.dropped = {1, 4, 7}
    it = iter(sampler)
    first = [next(it) for _ in range(12)]  # one chunk: 2 prompts x 3 generations x 2 repeats
    pending = next(p for p in range(10) if p not in monitor.dropped and p not in first)
    monitor.dropped.add(pending)  # dropped while the epoch runs: takes effect from the next chunk
    rest = list(it)
    seen = first + rest
    assert not {1, 4, 7, pending} & set(seen)
    # Groups stay whole: each chunk is 2 prompts x 3 generations, repeated twice.
    for start in range(0, len(seen), 12):
        chunk = seen[start : start + 12]
        assert len(chunk) == 12 and chunk[:6] == chunk[6:]
        assert chunk[0] == chunk[1] == chunk[2] and chunk[3] == chunk[4] == chunk[5]
    assert len(seen) == 12 * ((10 - 4) // 2)


def test_state_survives_a_checkpoint(tmp_path):
    monitor = StageMonitor(CurriculumOptions(drop_uniform_prompts=True, advance_window=2))
    monitor.record([5, 5, 6, 6], [0.0, 0.0, 1.0, 0.0], [0.1, 0.2, 0.3, 0.4])
    (tmp_path / "curriculum_state.json").write_text(json.dumps(monitor.state_dict()))
    restored = StageMonitor(CurriculumOptions(drop_uniform_prompts=True, advance_window=2))
    assert restored.load_from_checkpoint(tmp_path)
    assert restored.dropped == {5} and restored.streaks == monitor.streaks
    assert restored.running_reward == monitor.running_reward
