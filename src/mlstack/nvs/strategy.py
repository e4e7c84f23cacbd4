"""gsplat's DefaultStrategy with a hard Gaussian cap and a working opacity reset.

gsplat 1.5.3 guards the opacity reset with ``step % self.reset_every == 0 & step > 0``.
``&`` binds tighter than the comparisons, so this is the chained comparison
``(step % reset_every == 0) and (0 > 0)``: always False, the reset never fires. We keep
``DefaultStrategy``'s densify/prune logic and do the reset ourselves after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gsplat.strategy import DefaultStrategy
from gsplat.strategy.ops import duplicate, reset_opa, split


@dataclass
class CappedStrategy(DefaultStrategy):
    # Hard cap on the number of Gaussians; growth is limited to the highest-gradient ones.
    max_gaussians: int = 1_000_000

    def step_post_backward(self, params, optimizers, state, step, info, packed=False):
        super().step_post_backward(params, optimizers, state, step, info, packed=packed)
        if self.reset_due(step):
            reset_opa(params=params, optimizers=optimizers, state=state, value=self.prune_opa * 2.0)

    def reset_due(self, step: int) -> bool:
        """What gsplat intended: every reset_every steps (not step 0), while refining."""
        return 0 < step < self.refine_stop_iter and self.reset_every > 0 and step % self.reset_every == 0

    @torch.no_grad()
    def _grow_gs(self, params, optimizers, state, step) -> tuple[int, int]:
        grads = state["grad2d"] / state["count"].clamp_min(1)
        candidates = grads > self.grow_grad2d
        budget = self.max_gaussians - len(params["means"])  # each duplicate/split adds one
        if int(candidates.sum()) > budget:
            candidates = self._top_k(grads, candidates, max(budget, 0))
        max_scale = torch.exp(params["scales"]).max(dim=-1).values
        small = max_scale <= self.grow_scale3d * state["scene_scale"]
        to_duplicate, to_split = candidates & small, candidates & ~small
        if step < self.refine_scale2d_stop_iter:  # optional screen-size split (off by default)
            to_split |= state["radii"] > self.grow_scale2d
        n_dupli, n_split = int(to_duplicate.sum()), int(to_split.sum())
        if n_dupli:
            duplicate(params=params, optimizers=optimizers, state=state, mask=to_duplicate)
        # Duplicates are appended at the end and are never split in the same round.
        to_split = torch.cat([to_split, to_split.new_zeros(n_dupli)])
        if n_split:
            split(params=params, optimizers=optimizers, state=state, mask=to_split,
                  revised_opacity=self.revised_opacity)
        return n_dupli, n_split

    @staticmethod
    def _top_k(grads: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
        keep = torch.zeros_like(candidates)
        if k > 0:
            scores = torch.where(candidates, grads, torch.full_like(grads, -1.0))
            keep[torch.topk(scores, k, sorted=False).indices] = True
        return keep & candidates

    def state_for_checkpoint(self, state: dict[str, Any]) -> dict[str, Any]:
        return {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}
