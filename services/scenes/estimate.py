"""Roughly how long generating a scene takes, from how long this studio's last scene generations took."""

from __future__ import annotations

from dataclasses import dataclass

from services.jobs import JobFilter, JobQueue
from services.scenes.generation import SCENE_JOB
from studio.models import JobState

# Recent runs say the most about today's devices and engines; older ones are left out.
RECENT_RUNS = 20


@dataclass(frozen=True)
class GenerationEstimate:
    shots: int
    seconds: float | None  # None: no finished scene generation to go by
    runs: int  # how many past generations the estimate averages
    seconds_per_shot: float | None

    def text(self) -> str:
        """The estimate in words, saying what it is based on."""
        if self.seconds is None or self.seconds_per_shot is None:
            return "how long it takes is unknown: no scene generation has finished here yet to go by"
        runs = "generation" if self.runs == 1 else f"{self.runs} generations"
        return (
            f"roughly {_span(self.seconds)} (estimated from the last {runs} of a scene here: "
            f"about {_span(self.seconds_per_shot)} a shot)"
        )


async def generation_estimate(jobs: JobQueue, shots: int) -> GenerationEstimate:
    """Estimate `shots` shots at the average time a shot took in the last finished scene generations."""
    finished = await jobs.list(JobFilter(states=(JobState.SUCCEEDED,), kind=SCENE_JOB, limit=RECENT_RUNS))
    seconds = shots_done = 0.0
    runs = 0
    for job in finished:
        rendered = (job.result or {}).get("rendered")
        if job.started_at is None or job.finished_at is None or not isinstance(rendered, int) or rendered < 1:
            continue
        seconds += (job.finished_at - job.started_at).total_seconds()
        shots_done += rendered
        runs += 1
    if not runs:
        return GenerationEstimate(shots, None, 0, None)
    per_shot = seconds / shots_done
    return GenerationEstimate(shots, per_shot * shots, runs, per_shot)


def _span(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
