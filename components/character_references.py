"""A character's reference images in the editor: thumbnails, multi-file upload, removal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import events, ui

from components.character_card import reference_src
from components.confirm import confirm
from services.bible.characters import MAX_REFERENCES
from services.errors import Conflict, Invalid, NotFound, StudioError
from services.imaging import MAX_UPLOAD_BYTES
from studio.models import ReferenceImage
from studio.root import Studio

ACCEPTED = "image/png,image/jpeg,image/webp"


def problem_text(exc: StudioError) -> str:
    """The sentence to show a person: an Invalid's message without its field name."""
    return exc.message if isinstance(exc, Invalid) else str(exc)


async def reference_strip(studio: Studio, character_id: int, actor: str, on_change: Callable[[], object]) -> None:
    """Build the strip in the current context; `on_change` runs after every added or removed reference."""
    host = ui.column().classes("w-full gap-3")
    lock = asyncio.Lock()  # uploads of one batch arrive together; add them one by one

    @ui.refreshable
    def thumbnails(references: list[ReferenceImage]) -> None:
        ui.label(f"{len(references)} of at most {MAX_REFERENCES} reference images").classes("text-sm opacity-70")
        if not references:
            ui.label("No reference images yet: upload a few clear pictures of the character.").classes("text-sm")
            return
        with ui.row().classes("gap-3 flex-wrap"):
            for position, reference in enumerate(references):
                with ui.card().tight().classes("w-32").mark("reference-thumb"):
                    ui.image(reference_src(reference.id)).classes("w-32 h-40").props(
                        f'fit=cover alt="{reference.original_name or "reference"}"'
                    )
                    with ui.row().classes("w-full items-center no-wrap px-1 gap-0"):
                        caption = "primary" if position == 0 else f"{reference.width}x{reference.height}"
                        ui.label(caption).classes("text-xs opacity-70 grow truncate").tooltip(
                            f"{reference.original_name or 'reference'} · {reference.width}x{reference.height}"
                        )
                        ui.button(icon="delete", on_click=lambda r=reference: remove(r)).props(
                            'flat round dense size=sm color=negative aria-label="Remove reference"'
                        ).tooltip("Remove this reference").mark(f"remove-reference-{reference.id}")

    async def reload() -> None:
        await thumbnails.refresh(await studio.characters.references(character_id))

    async def remove(reference: ReferenceImage) -> None:
        with host:
            if not await confirm(
                "Remove this reference image?", reference.original_name or f"reference {reference.id}", "Remove"
            ):
                return
        try:
            await studio.characters.remove_reference(reference.id, actor)  # type: ignore[arg-type]
        except NotFound:
            pass  # removed meanwhile, e.g. in another tab: the reload below shows the truth
        await reload()
        on_change()

    async def uploaded(e: events.UploadEventArguments) -> None:
        name = e.file.name or "unnamed file"
        async with lock:
            try:
                # The browser keeps to max_file_size, but a request made by hand need not: refuse before reading.
                if e.file.size() > MAX_UPLOAD_BYTES:
                    raise Invalid("reference_image", f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
                data = await e.file.read()
                await studio.characters.add_reference(character_id, data, name, actor)
            except (Invalid, Conflict, NotFound) as exc:
                with problems:
                    ui.label(f"{name}: {problem_text(exc)}").classes("text-sm text-negative").mark("upload-problem")
                return
            await reload()
        on_change()

    with host:
        thumbnails(await studio.characters.references(character_id))
        ui.upload(
            multiple=True,
            auto_upload=True,
            max_file_size=MAX_UPLOAD_BYTES,
            label="Add reference images (PNG, JPEG or WebP)",
            on_begin_upload=lambda: problems.clear(),
            on_upload=uploaded,
            on_multi_upload=lambda e: e.sender.reset(),
            on_rejected=lambda: ui.notify(
                f"Some files were refused before upload: only PNG, JPEG or WebP up to {MAX_UPLOAD_BYTES // 2**20} MB",
                type="warning",
            ),
        ).props(f'accept="{ACCEPTED}" flat bordered').classes("w-full").mark("reference-upload")
        problems = ui.column().classes("gap-1")
