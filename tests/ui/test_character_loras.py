"""The character editor's LoRA tab through NiceGUI's simulated user: register, switch, unregister, delete with
Undo, a family that cannot load refused, and the prompt preview following; plus the REST routes' answers."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from tests.ui.test_characters_page import KOOPA, api, element, open_editor, project_with
from tests.ui.test_shell import eventually

LORA = "koopa_xl-000008.safetensors"


async def open_lora_tab(user: User, project_id: int) -> None:
    await user.open(f"/characters?project={project_id}")
    await open_editor(user, "koopa_king")
    user.find(kind=ui.tab, content="LoRA").click()
    await user.should_see(marker="lora-none")


async def register(user: User, file_name: str, trigger: str, epoch: int | None = None) -> None:
    user.find(marker="lora-file").clear().type(file_name)
    user.find(marker="lora-trigger-word").clear().type(trigger)
    element(user, "lora-epoch").value = epoch
    user.find(marker="lora-register").click()


async def test_a_lora_is_registered_used_by_the_preview_switched_deleted_and_restored(user: User) -> None:
    project_id = await project_with(user, KOOPA, style=True)  # the style draws with SDXL
    await open_lora_tab(user, project_id)
    assert element(user, "lora-family").value == "sdxl"  # the character's style decides the default

    element(user, "lora-family").value = "sd15"
    await register(user, "koopa_sd15.safetensors", "kpa")
    await user.should_see("an SD 1.5 LoRA cannot load on SDXL")
    await user.should_see(marker="lora-none")

    element(user, "lora-family").value = "sdxl"
    await register(user, LORA, "koopa_king", epoch=8)
    await user.should_see(f"Koopa King's images load {LORA}.")
    await user.should_see("epoch 8")
    await eventually(lambda: element(user, "lora-problem").text == "")

    user.find(kind=ui.tab, content="Prompt preview").click()
    await user.should_see(marker="preview-lora")
    assert element(user, "preview-positive").text.startswith("koopa_king, ")
    await user.should_see("registered LoRA of Koopa King, epoch 8, weight 0.8")

    user.find(kind=ui.tab, content="LoRA").click()
    await register(user, "koopa_xl-000010.safetensors", "koopa_king", epoch=10)
    await user.should_see("Koopa King's images load koopa_xl-000010.safetensors.")
    [row] = await api(user, "GET", f"/projects/{project_id}/characters")
    character_id = row["character"]["id"]
    newer, older = await api(user, "GET", f"/characters/{character_id}/loras")
    assert (newer["active"], older["active"], older["file_name"]) == (True, False, LORA)

    user.find(marker=f"lora-use-{older['id']}").click()
    await user.should_see(f"Koopa King's images load {LORA}.")

    user.find(marker=f"lora-delete-{older['id']}").click()
    await user.should_see(f"Deleted LoRA {LORA}")
    await user.should_see(marker="lora-none")
    assert [lora["id"] for lora in await api(user, "GET", f"/characters/{character_id}/loras")] == [newer["id"]]
    user.find(marker="undo").click()
    await user.should_see(f"Koopa King's images load {LORA}.")

    user.find(marker="lora-deactivate").click()
    await user.should_see(marker="lora-none")
    assert not any(lora["active"] for lora in await api(user, "GET", f"/characters/{character_id}/loras"))
    user.find(kind=ui.tab, content="Prompt preview").click()
    await user.should_not_see(marker="preview-lora")


async def test_the_rest_routes_answer_bad_requests_with_4xx(user: User) -> None:
    project_id = await project_with(user, KOOPA, style=True)
    [row] = await api(user, "GET", f"/projects/{project_id}/characters")
    base = f"/api/characters/{row['character']['id']}/loras"
    client = user.http_client
    body = {"file_name": LORA, "family": "sdxl", "trigger_word": "koopa_king", "epoch": 8}
    created = await client.post(base, json=body)
    assert created.status_code == 201, created.text
    lora = created.json()["lora"]
    assert (lora["epoch"], lora["weight"], lora["active"]) == (8, 0.8, True)
    assert created.json()["missing_on"] == []  # no ComfyUI device is set up, so none lacks the file

    wrong_family = await client.post(base, json={**body, "family": "sd15"})
    assert wrong_family.status_code == 422 and "cannot load on SDXL" in wrong_family.json()["detail"]
    assert (await client.post(base, json={**body, "file_name": "../x.safetensors"})).status_code == 422
    assert (await client.post(base, json={**body, "weight": 3})).status_code == 422
    assert (await client.post("/api/characters/99999/loras", json=body)).status_code == 404
    assert (await client.get(f"{base}/99999")).status_code == 404
    assert (await client.post(f"{base}/99999/activate")).status_code == 404

    assert (await client.delete(f"{base}/{lora['id']}")).json()["deleted_at"] is not None
    assert (await client.post(f"{base}/{lora['id']}/activate")).status_code == 422
    restored = await client.post(f"{base}/{lora['id']}/restore")
    assert restored.json()["deleted_at"] is None and restored.json()["active"] is True
    deactivated = await client.post(f"{base}/deactivate")
    assert deactivated.json()["previous"]["id"] == lora["id"]
    assert (await client.post(f"{base}/deactivate")).json() == {"previous": None}
