"""Create: generate a character's images on the ComfyUI devices and follow every batch live."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from starlette.requests import Request

from components.form_errors import explain
from components.job_progress import JobCard, cancel_job, result_image_ids, retry_job, with_latest_preview
from components.model_picker import offer_models
from components.project_context import no_project_yet, project_for_page, project_picker
from components.provenance import open_provenance
from components.shell import Area, frame, principal_of, studio_page
from services.backends import NO_PREVIEWS
from services.connections import ConnectionChanged
from services.errors import Invalid, NotFound
from services.generation import IMAGE_JOB, ImageBatchDraft
from services.generation.images import MAX_BATCH, MAX_SEED
from services.jobs import FINISHED_STATES, JobChanged, JobFilter, JobProgressed
from studio.config import COMFYUI_DEVICE_EXAMPLE, CONNECTIONS_URL
from studio.models import Character, DatasetImage, GenerationStyle, Job, Project
from studio.root import Studio

SEED_POLICIES = {"random": "Random seeds", "increment": "Increment from a seed", "fixed": "Same seed for all"}
ANY_DEVICE = ""
MAX_LORAS = 8
# The page lists the newest batches among this many recent image jobs of the project.
RECENT_JOBS = 200
MAX_BATCHES = 8
# Events mark what changed; the page redraws at most this often, so a 64-image batch or a stream of
# preview frames costs a few redraws a second instead of one per event.
REDRAW_SECONDS = 0.2


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/create")
    async def create_page(request: Request) -> None:
        async with frame(studio, request, "Create", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, "/create")
                if project is None:
                    no_project_yet()
                    return
                view = CreateView(studio, project, principal_of(request).name)
                await view.build()
            await view.reload_batches()


class CreateView:
    """The generate form above this project's recent batches, each job a live card."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.cards: dict[int, JobCard] = {}
        self.known: set[int] = set()  # the project's job ids the last reload saw
        self.changed: set[int] = set()
        self.progress: dict[int, JobProgressed] = {}  # not yet shown
        self.last_progress: dict[int, JobProgressed] = {}  # re-applied when a card is redrawn
        self.lock = asyncio.Lock()
        self.loras: list[tuple[ui.row, ui.input, ui.number]] = []
        self.lora_files: list[str] | None = None  # what the devices' ComfyUI lists, asked when first needed

    # --- the form -----------------------------------------------------------------------------------

    async def build(self) -> None:
        project_id: int = self.project.id  # type: ignore[assignment]
        characters = [card.character for card in await self.studio.characters.cards(project_id)]
        styles = await self.studio.styles.list()
        devices = list(self.studio.settings.comfyui_devices)
        self.no_device_card: ui.card | None = None
        # What else stops generation (no character, no style); a device may still be connected while the page is open.
        self.blocked_otherwise = not characters or not styles
        blocked = self._blockers(characters, styles, bool(devices))
        with ui.card().classes("w-full gap-3").mark("generate-form"):
            ui.label("Generate images").classes("text-xl font-semibold")
            with ui.row().classes("w-full items-start gap-3"):
                self.character = (
                    ui.select(
                        {c.id: c.name for c in characters},
                        value=characters[0].id if characters else None,
                        label="Character",
                    )
                    .props("outlined dense")
                    .classes("w-56")
                    .mark("character-select")
                )
                self.style = (
                    ui.select(
                        {s.name: _style_label(s, self.project) for s in styles},
                        value=self.project.default_style
                        if any(s.name == self.project.default_style for s in styles)
                        else None,
                        label="Style",
                    )
                    .props("outlined dense")
                    .classes("w-72")
                    .mark("style-select")
                )
                self.count = (
                    ui.number("Count", value=4, min=1, max=MAX_BATCH, precision=0)
                    .props("outlined dense")
                    .classes("w-24")
                    .mark("count")
                )
                self.seed_policy = (
                    ui.select(SEED_POLICIES, value="random", label="Seeds")
                    .props("outlined dense")
                    .classes("w-56")
                    .mark("seed-policy")
                )
                self.seed = (
                    ui.number("Seed", min=0, max=MAX_SEED, precision=0)
                    .props("outlined dense")
                    .classes("w-40")
                    .mark("seed")
                )
                # A seed only means something when the policy uses one; random draws its own.
                self.seed.bind_enabled_from(self.seed_policy, "value", backward=lambda policy: policy != "random")
                self.device = (
                    ui.select(
                        {ANY_DEVICE: "any ComfyUI device", **{name: name for name in devices}},
                        value=ANY_DEVICE,
                        label="Device",
                    )
                    .props("outlined dense")
                    .classes("w-52")
                    .mark("device-select")
                )
            self.pose = (
                ui.input("Pose", placeholder="e.g. standing, arms crossed, three-quarter view")
                .props("outlined dense")
                .classes("w-full")
                .mark("pose")
            )
            self.extra = (
                ui.textarea("Extra prompt", placeholder="Added to the end of the positive prompt")
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("extra-prompt")
            )
            self.lora_host = ui.column().classes("gap-1")
            with ui.row().classes("w-full items-center gap-4"):
                self.add_lora_button = (
                    ui.button("Add LoRA", icon="add", on_click=self.add_lora).props("flat dense").mark("add-lora")
                )
                self.use_reference = ui.switch("Use the character's reference image", value=True).mark("use-reference")
                ui.label("(SD 1.5 styles whose model profile names an IP-Adapter)").classes("text-xs opacity-60")
            self.problems = ui.column().classes("gap-1")
            with ui.row().classes("w-full justify-end"):
                self.generate_button = ui.button("Generate", icon="brush", on_click=self.generate).mark("generate")
                self.generate_button.set_enabled(not blocked)

        with ui.row().classes("w-full items-center"):
            ui.label("Batches").classes("text-xl font-semibold")
            ui.space()
            ui.label("newest first, live").classes("text-sm opacity-60")
        self.previews_notice = ui.label().classes("text-sm text-warning").mark("no-previews")
        self.previews_notice.set_visibility(False)
        self.batches_host = ui.column().classes("w-full gap-4").mark("batches")
        if devices:
            ui.timer(0.05, self.show_previews_notice, once=True)

        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        client.on_delete(self.studio.events.subscribe(ConnectionChanged, self.devices_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    def devices_changed(self, _event: ConnectionChanged) -> None:
        """A device added or removed in Settings → Connections (any tab): offer what there is now."""
        if self.device.is_deleted:
            return
        devices = list(self.studio.settings.comfyui_devices)
        value = self.device.value if self.device.value in devices else ANY_DEVICE
        self.device.set_options({ANY_DEVICE: "any ComfyUI device", **{name: name for name in devices}}, value=value)
        if self.no_device_card is not None:
            self.no_device_card.set_visibility(not devices)
        self.generate_button.set_enabled(bool(devices) and not self.blocked_otherwise)

    async def show_previews_notice(self) -> None:
        """Name the devices whose ComfyUI sends no preview frames: their jobs show no picture until done."""
        statuses = await self.studio.backends.current(max_age=self.studio.settings.status_refresh_seconds)
        off = [status.device for status in statuses if status.kind == "comfyui" and status.previews is False]
        if off and not self.previews_notice.is_deleted:
            self.previews_notice.text = f"{', '.join(d for d in off if d)}: {NO_PREVIEWS}"
            self.previews_notice.set_visibility(True)

    def _blockers(self, characters: list[Character], styles: list[GenerationStyle], has_device: bool) -> bool:
        """Say plainly what stops generation and how to fix it; True when something does."""
        project_id = self.project.id
        if not has_device:
            with ui.card().classes("w-full gap-1 bg-amber-1 text-black").mark("no-comfy-device") as self.no_device_card:
                ui.label("No device has a ComfyUI server, so images cannot be generated yet.").classes("font-medium")
                ui.label(
                    "Connect a GPU box with its ComfyUI address: it is used at once, no restart. (Or set "
                    f"{COMFYUI_DEVICE_EXAMPLE} where the studio starts.)"
                ).classes("text-sm studio-wrap")
                ui.button("Connect a GPU box", on_click=lambda: ui.navigate.to(CONNECTIONS_URL)).props(
                    "flat dense"
                ).mark("connect-device")
        if not characters:
            with ui.card().classes("w-full gap-1").mark("no-characters-to-generate"):
                ui.label(f"{self.project.name} has no characters yet: add one to generate its images.")
                ui.button(
                    "Go to Characters", on_click=lambda: ui.navigate.to(f"/characters?project={project_id}")
                ).props("flat dense")
        if not styles:
            with ui.card().classes("w-full gap-1").mark("no-styles"):
                ui.label("There is no generation style yet: a style names the checkpoint and sampler to use.")
                ui.button(
                    "Go to generation styles",
                    on_click=lambda: ui.navigate.to(f"/story?project={project_id}&tab=styles"),
                ).props("flat dense")
        return not has_device or not characters or not styles

    async def add_lora(self) -> None:
        with self.lora_host, ui.row().classes("items-center gap-2") as row:
            name = (
                ui.input("LoRA file", placeholder="koopa_lora.safetensors")
                .props("outlined dense")
                .classes("w-72")
                .mark("lora-name")
            )
            strength = (
                ui.number("Strength", value=0.8, min=-2, max=2, step=0.05)
                .props("outlined dense")
                .classes("w-28")
                .mark("lora-strength")
            )
            entry = (row, name, strength)
            ui.button(icon="delete", on_click=lambda: self.remove_lora(entry)).props("flat round dense").mark(
                "remove-lora"
            )
        self.loras.append(entry)
        self.add_lora_button.set_enabled(len(self.loras) < MAX_LORAS)
        # The row is there at once; the choices follow when the devices have answered (once per page).
        if self.lora_files is None:
            self.lora_files = await self.studio.capabilities.model_files("loras")
        if not row.is_deleted:
            offer_models(name, self.lora_files, "lora-name")

    def remove_lora(self, entry: tuple[ui.row, ui.input, ui.number]) -> None:
        self.loras.remove(entry)
        entry[0].delete()
        self.add_lora_button.set_enabled(len(self.loras) < MAX_LORAS)

    def _fields(self) -> dict[str, Any]:
        return {
            "character": self.character,
            "style": self.style,
            "count": self.count,
            "seed_policy": self.seed_policy,
            "seed": self.seed,
            "pose": self.pose,
            "extra_prompt": self.extra,
            "device": self.device,
        }

    def _problem(self, field: str | None, text: str) -> None:
        element = self._fields().get(field or "")
        if element is not None:
            element.error = text
        with self.problems:
            ui.label(text).classes("text-negative text-sm").mark("generate-problem")

    async def generate(self) -> None:
        self.problems.clear()
        for element in self._fields().values():
            element.error = None
        if self.character.value is None:
            self._problem("character", "Character: choose whose images to generate")
            return
        policy = self.seed_policy.value
        try:
            draft = ImageBatchDraft(
                style=self.style.value or None,
                count=self.count.value,
                seed_policy=policy,
                seed=self.seed.value if policy != "random" else None,
                pose=(self.pose.value or "").strip(),
                extra_prompt=(self.extra.value or "").strip(),
                # A row left without a file name is a row the user did not fill in, not an error.
                loras=[
                    {"name": name.value.strip(), "strength": strength.value}
                    for _, name, strength in self.loras
                    if (name.value or "").strip()
                ],
                use_reference=self.use_reference.value,
                device=self.device.value or None,
            )
        except ValidationError as exc:
            for problem, line in zip(exc.errors()[:6], explain(exc).split("\n"), strict=False):
                self._problem(str(problem["loc"][0]) if problem["loc"] else None, line)
            return
        try:
            jobs = await self.studio.images.generate(self.character.value, draft, self.actor)
        except Invalid as exc:
            self._problem(exc.field.split(".")[0], explain(exc))
            return
        except NotFound as exc:
            self._problem(None, explain(exc))
            return
        noun = "image" if len(jobs) == 1 else "images"
        ui.notify(f"Queued {len(jobs)} {noun}", type="positive")
        await self.reload_batches()

    # --- the batches ----------------------------------------------------------------------------------

    async def reload_batches(self) -> None:
        async with self.lock:
            jobs = await self.studio.jobs.list(JobFilter(kind=IMAGE_JOB, project_id=self.project.id, limit=RECENT_JOBS))
            self.known = {job.id for job in jobs}  # type: ignore[misc]
            batches: dict[str, list[Job]] = {}
            for job in jobs:  # newest first, so batches come out newest first too
                batches.setdefault(job.batch or f"job-{job.id}", []).append(job)
            shown = list(batches.values())[:MAX_BATCHES]
            images = await self._images_of([job for batch in shown for job in batch])
            if self.batches_host.is_deleted:
                return
            self.batches_host.clear()
            self.cards = {}
            with self.batches_host:
                if not shown:
                    with ui.card().classes("w-full items-center p-6").mark("no-batches"):
                        ui.label(f"Nothing generated for {self.project.name} yet.").classes("opacity-70")
                for batch in shown:
                    self._batch(sorted(batch, key=lambda j: j.id or 0), images)

    def _batch(self, jobs: list[Job], images: dict[int, DatasetImage]) -> None:
        first = jobs[0]
        who = first.title.split(" · ")[0] if first.title else first.kind
        noun = "image" if len(jobs) == 1 else "images"
        with ui.column().classes("w-full gap-2").mark(f"batch-{first.batch}"):
            ui.label(f"{who} · {len(jobs)} {noun} · {first.created_at:%Y-%m-%d %H:%M} UTC").classes(
                "text-sm font-medium opacity-80"
            )
            with ui.grid(columns="repeat(auto-fill, minmax(260px, 1fr))").classes("w-full gap-3 items-start"):
                for job in jobs:
                    card = JobCard(self.cancel, self.retry, self.open_image)
                    self._show(card, job, images)
                    self.cards[job.id] = card  # type: ignore[index]

    def _show(self, card: JobCard, job: Job, images: dict[int, DatasetImage]) -> None:
        card.render(job, [images[i] for i in result_image_ids(job) if i in images])
        if job.state in FINISHED_STATES:
            self.last_progress.pop(job.id, None)  # type: ignore[arg-type]
        elif job.id in self.last_progress:
            card.progress(self.last_progress[job.id])  # type: ignore[index]

    async def _images_of(self, jobs: list[Job]) -> dict[int, DatasetImage]:
        ids = [i for job in jobs for i in result_image_ids(job)]
        return {image.id: image for image in await self.studio.images.images(ids)}  # type: ignore[misc]

    # --- live updates ---------------------------------------------------------------------------------

    def job_changed(self, event: JobChanged) -> None:
        if event.kind == IMAGE_JOB and event.project_id == self.project.id:
            self.changed.add(event.job_id)

    def job_progressed(self, event: JobProgressed) -> None:
        if event.job_id in self.cards:
            self.progress[event.job_id] = with_latest_preview(event, self.progress.get(event.job_id))

    async def redraw(self) -> None:
        changed, self.changed = self.changed, set()
        progress, self.progress = self.progress, {}
        if changed - self.known:
            await self.reload_batches()  # a new job: maybe a new batch of this project
        elif changed:
            async with self.lock:
                for job_id in changed & self.cards.keys():
                    try:
                        job = await self.studio.jobs.get(job_id)
                    except NotFound:
                        continue
                    self._show(self.cards[job_id], job, await self._images_of([job]))
        for job_id, event in progress.items():
            if job_id in self.cards:
                self.last_progress[job_id] = event = with_latest_preview(event, self.last_progress.get(job_id))
                self.cards[job_id].progress(event)

    # --- actions --------------------------------------------------------------------------------------

    async def cancel(self, job_id: int) -> None:
        await cancel_job(self.studio, job_id, self.actor)

    async def retry(self, job_id: int) -> None:
        await retry_job(self.studio, job_id, self.actor)

    def open_image(self, image: DatasetImage) -> None:
        open_provenance(image, self.again)

    async def again(self, image: DatasetImage) -> bool:
        try:
            job = await self.studio.images.again(image.id, self.actor)  # type: ignore[arg-type]
        except (Invalid, NotFound) as exc:
            ui.notify(explain(exc), type="negative")
            return False
        ui.notify(f"Queued job {job.id}: {job.title}", type="positive")
        await self.reload_batches()
        return True


def _style_label(style: GenerationStyle, project: Project) -> str:
    default = " · project default" if style.name == project.default_style else ""
    return f"{style.name} ({style.checkpoint_model}){default}"
