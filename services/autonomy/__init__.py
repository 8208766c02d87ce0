"""Autonomy: replenishment, learning, drift, auto-correction and the production orchestrator, and the loop that
runs them (the autopilot), with every decision logged."""

from dataclasses import dataclass

from services.autonomy.autopilot import AutopilotRunner
from services.autonomy.config import AutopilotChanges, AutopilotConfig, AutopilotView
from services.autonomy.correction import AutoCorrection
from services.autonomy.drift import DriftWatch
from services.autonomy.events import AutonomyDecided, AutopilotChanged, DriftDetected
from services.autonomy.learning import Learning
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.autonomy.orchestrator import Orchestrator
from services.autonomy.replenishment import Replenishment


@dataclass(frozen=True)
class Autonomy:
    """The autonomy services, as the composition root wires them."""

    config: AutopilotConfig
    log: DecisionLog
    learning: Learning
    drift: DriftWatch
    replenishment: Replenishment
    correction: AutoCorrection
    orchestrator: Orchestrator
    runner: AutopilotRunner


__all__ = [
    "AUTOPILOT",
    "AutoCorrection",
    "Autonomy",
    "AutonomyDecided",
    "AutopilotChanged",
    "AutopilotChanges",
    "AutopilotConfig",
    "AutopilotRunner",
    "AutopilotView",
    "DecisionLog",
    "DriftDetected",
    "DriftWatch",
    "Learning",
    "Orchestrator",
    "Replenishment",
]
