from dataclasses import dataclass
from typing import ClassVar

from studio.events import EventBus, StudioEvent, UserAdded


class RecordingAudit:
    def __init__(self) -> None:
        self.events: list[StudioEvent] = []

    async def record(self, event: StudioEvent) -> None:
        self.events.append(event)


@dataclass(frozen=True, kw_only=True)
class ShotFinished(StudioEvent):
    name: ClassVar[str] = "test.shot_finished"
    shot: int


async def test_subscribers_get_their_event_type_and_base_subscribers_get_all() -> None:
    bus = EventBus()
    shots: list[int] = []
    everything: list[str] = []

    async def on_shot(event: ShotFinished) -> None:
        shots.append(event.shot)

    bus.subscribe(ShotFinished, on_shot)
    bus.subscribe(StudioEvent, lambda e: everything.append(e.name))
    await bus.emit(ShotFinished(shot=3))
    await bus.emit(UserAdded(user="aiko"))
    assert shots == [3]
    assert everything == ["test.shot_finished", "user.added"]


async def test_a_failing_subscriber_does_not_stop_the_others_or_the_audit(caplog) -> None:
    audit = RecordingAudit()
    bus = EventBus(audit)
    seen: list[int] = []

    def broken(_event: ShotFinished) -> None:
        raise RuntimeError("boom")

    bus.subscribe(ShotFinished, broken)
    bus.subscribe(ShotFinished, lambda e: seen.append(e.shot))
    await bus.emit(ShotFinished(shot=1))
    assert seen == [1]
    assert [e.name for e in audit.events] == ["test.shot_finished"]
    assert bus.handler_failures == 1
    assert "boom" in caplog.text
    caplog.clear()


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[int] = []
    unsubscribe = bus.subscribe(ShotFinished, lambda e: seen.append(e.shot))
    await bus.emit(ShotFinished(shot=1))
    unsubscribe()
    await bus.emit(ShotFinished(shot=2))
    assert seen == [1]
