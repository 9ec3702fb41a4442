"""Interventions applied during training, at the boundaries between segments of one wave.

``Interventions`` holds, for one wave of one compiled group, each intervention's member mask, the
step each member's intervention fired (-1: not yet), the open windows (a changed hyperparameter,
skipped batches) and the members' recent recorded states (for ``Rewind`` and
``AverageWeights``). At each segment boundary (after that step is recorded and checkpointed)
``step`` evaluates the triggers on the measured metrics, closes the windows that end, applies the
actions that fire, and hands back the members and hyperparameters. Nothing happens on the
device: the wave's state is gathered on the host (``Parts.merge``), changed with numpy where the
masks say, and split back, only at boundaries where something is to be done.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from dyntheory._config import data_edit_actions as edits
from dyntheory._config import interventions as iv
from dyntheory._config.optim import ClipState, GrokfastState, PenaltyState
from dyntheory._engine.data_edits import chosen_rows
from dyntheory._engine.select import member_mask
from dyntheory._platform.hosts import to_host


def _where(mask: np.ndarray, new, old):
    """Leafwise ``new`` where ``mask`` (g, m) holds, else ``old``."""
    def pick(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return np.where(mask.reshape(mask.shape + (1,) * (b.ndim - mask.ndim)), a, b).astype(b.dtype)
    return jax.tree.map(pick, new, old)


def _switches(opt_state, kind) -> list:
    """The switchable filter states of ``kind`` in an optimizer state, in chain order."""
    found = []

    def visit(node):
        if isinstance(node, kind):
            found.append(node)
            return
        if isinstance(node, (tuple, list)):
            for child in node:
                visit(child)

    visit(opt_state)
    return found


def _switch_on(opt_state, kind, index: int, fire: np.ndarray, on: bool = True):
    """``opt_state`` with the ``index``-th filter of ``kind`` switched on (or off) where ``fire``."""
    count = [-1]

    def visit(node):
        if isinstance(node, kind):
            count[0] += 1
            if count[0] == index:
                return node._replace(on=(np.asarray(node.on) | fire) if on else (np.asarray(node.on) & ~fire))
            return node
        if isinstance(node, tuple) and not hasattr(node, "_fields"):
            return tuple(visit(c) for c in node)
        if isinstance(node, tuple):  # another NamedTuple state: rebuild it field by field
            return type(node)(*(visit(c) for c in node))
        if isinstance(node, list):
            return [visit(c) for c in node]
        return node

    return visit(opt_state)


def _zero_optimizer(opt_state):
    """Moments and counts zeroed; the filters' switches kept as they are."""
    def visit(node):
        if isinstance(node, (ClipState, PenaltyState)):
            return node
        if isinstance(node, GrokfastState):
            return node._replace(ema=jax.tree.map(np.zeros_like, node.ema))
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(*(visit(c) for c in node))
        if isinstance(node, (tuple, list)):
            return type(node)(visit(c) for c in node)
        return np.zeros_like(node) if hasattr(node, "shape") else node

    return visit(opt_state)


@dataclasses.dataclass
class _Window:
    item: int
    end: np.ndarray  # (g, m) step the window ends, -1 where none
    saved: object  # what is put back: a hyperparameter's values, or (params, opt_state)


class Interventions:
    """The interventions of one wave (``parts.region(ids)`` of one compiled group's layout)."""

    def __init__(self, sweep, layout, coords, region):
        self.items = sweep.interventions
        full = (layout.G, layout.M)
        self.masks = [member_mask(layout, coords, it.where)[region] for it in self.items]
        shape = self.masks[0].shape if self.masks else full
        self.fired = [np.full(shape, -1, np.int32) for _ in self.items]
        self.windows: list[_Window] = []
        self.snaps: list[tuple[int, object, object]] = []  # (step, params, opt_state) on the host
        self.history: dict[str, list[np.ndarray]] = {}
        actions = [it.action for it in self.items]
        self.rewind = max((a.steps for a in actions if isinstance(a, iv.Rewind)), default=0)
        self.average = max((a.last for a in actions if isinstance(a, iv.AverageWeights)), default=0)
        self.filters = iv.filters(self.items)
        self.edits: dict[int, tuple] = {}  # item -> (rows (g, n) bool, labels (g, n, ...) or None)

    def prepare(self, task, fns, gs_parts, parts, ids) -> None:
        """Choose the rows each data edit names, per data stream of the wave (before training):
        ValueError naming the intervention if they are out of range or malformed, or if the task's
        batches are not the rows ``dt.tasks.finite_minibatch`` takes. Only for a sweep that edits
        training sets (its population functions then include ``train_set``)."""
        if parts.axis == 0:  # parts hold different groups: the wave's, in order
            lo, hi = parts.span(ids)
            outs = [fns["train_set"](g) for g in gs_parts]
            train, state, ok = jax.tree.map(lambda *xs: np.concatenate([to_host(x) for x in xs])[:hi - lo], *outs)
        else:  # every part holds every group
            train, state, ok = jax.tree.map(to_host, fns["train_set"](gs_parts[0]))
        if not np.all(ok):
            raise ValueError(f"Sweep.interventions: {type(task).__name__}'s batches are not the rows of its training "
                             "set that dt.tasks.finite_minibatch takes, so its examples cannot be removed or "
                             "relabelled per member (draw batches with finite_minibatch(state['train'], ...))")
        for i, it in enumerate(self.items):
            if isinstance(it.action, edits.DataEdit):
                self.edits[i] = chosen_rows(f"Sweep.interventions[{i}]", it.action, task, train, state)

    def __bool__(self) -> bool:
        return bool(self.items)

    # ---- triggers -----------------------------------------------------------------------------
    def _fires(self, i: int, s: int, measured: dict | None) -> np.ndarray:
        it, mask = self.items[i], self.masks[i] & (self.fired[i] < 0)
        t = it.trigger
        if isinstance(t, iv.At):
            return mask & (s == t.step)
        if measured is None or t.metric not in measured:
            return np.zeros_like(mask)
        v = np.asarray(measured[t.metric], dtype=float)
        hist = self.history.get(t.metric, [])
        with np.errstate(invalid="ignore"):
            if isinstance(t, iv.Spike):
                hit = (v > t.ratio * hist[-1]) & (hist[-1] > 0) if hist else np.zeros_like(mask)
            elif isinstance(t, iv.AboveMedian):
                hit = v > t.c * np.median(np.stack(hist), axis=0) if len(hist) >= t.warmup else np.zeros_like(mask)
            else:
                hit = v >= t.value if t.direction == "above" else v <= t.value
        return mask & hit & np.isfinite(v)

    def _record(self, measured: dict | None) -> None:
        if measured is None:
            return
        for name in {getattr(it.trigger, "metric", None) for it in self.items} - {None}:
            self.history.setdefault(name, []).append(np.asarray(measured[name], dtype=float))

    # ---- one boundary -----------------------------------------------------------------------
    def step(self, s: int, members, hps, measured, parts, ids):
        """Members and hyperparameters after the interventions due at boundary ``s``."""
        fires = [self._fires(i, s, measured) for i in range(len(self.items))]
        self._record(measured)
        ending = [w for w in self.windows if ((w.end >= 0) & (w.end <= s)).any()]
        keep = (self.rewind or self.average) and measured is not None
        if not (any(f.any() for f in fires) or ending or keep):
            return members, hps
        m, h = parts.merge(members, ids), parts.merge(hps, ids)
        for w in ending:
            done = (w.end >= 0) & (w.end <= s)
            m, h = self._close(w, done, m, h)
            w.end = np.where(done, -1, w.end)
        self.windows = [w for w in self.windows if (w.end >= 0).any()]
        for i, fire in enumerate(fires):
            if fire.any():
                m, h = self._act(i, fire, s, m, h)
                self.fired[i] = np.where(fire, s, self.fired[i]).astype(np.int32)
        if keep:
            self._snapshot(s, m)
        return parts.split(m, ids=ids, local=True), parts.split(h, ids=ids, local=True)

    def _close(self, w: _Window, done, m, h):
        a = self.items[w.item].action
        if isinstance(a, (iv.ScaleLR, iv.WeightDecayPulse)):
            name = "lr" if isinstance(a, iv.ScaleLR) else "weight_decay"
            h = dataclasses.replace(h, **{name: _where(done, w.saved, getattr(h, name))})
        elif isinstance(a, iv.SkipBatches):
            params, opt = w.saved
            m = m._replace(params=_where(done, params, m.params), opt_state=_where(done, opt, m.opt_state))
        elif isinstance(a, iv.Penalty):
            m = m._replace(opt_state=_switch_on(m.opt_state, PenaltyState, self._penalty_index(a), done, on=False))
        return m, h

    def _penalty_index(self, a) -> int:
        return [f for f in self.filters if f[0] == "penalty"].index(("penalty", a.fn, a.weight))

    def _act(self, i: int, fire, s: int, m, h):
        a = self.items[i].action
        if isinstance(a, (iv.ScaleLR, iv.WeightDecayPulse)):
            name = "lr" if isinstance(a, iv.ScaleLR) else "weight_decay"
            old = np.asarray(getattr(h, name))
            new = old * a.factor if isinstance(a, iv.ScaleLR) else np.full_like(old, a.value)
            self._open(i, fire, s + a.window, old)
            h = dataclasses.replace(h, **{name: _where(fire, new, old)})
        elif isinstance(a, iv.SkipBatches):
            self._open(i, fire, s + a.window, (jax.tree.map(np.copy, m.params), jax.tree.map(np.copy, m.opt_state)))
        elif isinstance(a, iv.Rewind):
            back = [snap for snap in self.snaps if snap[0] <= s - a.steps] or self.snaps[:1]
            if back:
                _, params, opt = back[-1]
                m = m._replace(params=_where(fire, params, m.params), opt_state=_where(fire, opt, m.opt_state),
                               diverged_at=np.where(fire, -1, np.asarray(m.diverged_at)).astype(np.int32))
        elif isinstance(a, iv.ResetOptimizer):
            m = m._replace(opt_state=_where(fire, _zero_optimizer(m.opt_state), m.opt_state))
        elif isinstance(a, iv.AverageWeights):
            recent = [p for _, p, _ in self.snaps[-(a.last - 1):]] if a.last > 1 else []
            mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0).astype(xs[0].dtype), m.params, *recent)
            m = m._replace(params=_where(fire, mean, m.params))
        elif isinstance(a, iv.Penalty):
            self._open(i, fire, s + a.window, None)
            m = m._replace(opt_state=_switch_on(m.opt_state, PenaltyState, self._penalty_index(a), fire))
        elif isinstance(a, iv.ClipUpdates):
            m = m._replace(opt_state=_switch_on(m.opt_state, ClipState, 0, fire))
        elif isinstance(a, edits.DataEdit):
            rows, labels = self.edits[i]
            sel = fire[:, :, None] & rows[:, None, :]  # (g, m, n)
            d = m.data
            if isinstance(a, edits.RemoveExamples):
                d = d._replace(keep=np.asarray(d.keep) & ~sel)
            else:
                wide = sel.reshape(sel.shape + (1,) * (np.ndim(d.label) - 3))
                d = d._replace(relabel=np.asarray(d.relabel) | sel,
                               label=np.where(wide, labels[:, None], np.asarray(d.label)).astype(np.asarray(d.label).dtype))
            m = m._replace(data=d)
        elif isinstance(a, iv.Grokfast):
            index = [f for f in self.filters if f[0] == "grokfast"].index(("grokfast", a.alpha, a.lamb))
            m = m._replace(opt_state=_switch_on(m.opt_state, GrokfastState, index, fire))
        return m, h

    def _open(self, i: int, fire, end: int, saved) -> None:
        self.windows.append(_Window(i, np.where(fire, end, -1), saved))

    def _snapshot(self, s: int, m) -> None:
        self.snaps.append((s, jax.tree.map(np.copy, m.params), jax.tree.map(np.copy, m.opt_state)))
        # Keep what a rewind or an average can still reach: the latest state at least ``rewind``
        # steps back and everything after it, and the last ``average`` states.
        old = [k for k, snap in enumerate(self.snaps) if snap[0] <= s - self.rewind]
        start = min(old[-1] if old else 0, max(len(self.snaps) - self.average, 0))
        self.snaps = self.snaps[start:]
