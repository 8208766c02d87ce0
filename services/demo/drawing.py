"""The sample production's pictures, drawn locally with Pillow: a harbor at dusk and its two characters.

Flat colours, dark outlines and soft glows, the way an anime background and a character sheet look, so the
sample episode shows what the studio does without any image model. Everything is drawn at twice the size
asked for and scaled down, which smooths the edges Pillow draws hard. The drawings are deterministic: the
same call gives the same PNG, so a second sample project's images are the same files.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[int, int, int]
Keyframe = Literal["harbor_wide", "jun_close", "mira_close", "two_shot"]
KEYFRAMES: tuple[Keyframe, ...] = ("harbor_wide", "jun_close", "mira_close", "two_shot")
SUPERSAMPLE = 2
OUTLINE: Colour = (38, 28, 52)


@dataclass(frozen=True)
class Look:
    """How a character is drawn: the colours of skin, hair, eyes and clothes, and the hair's cut."""

    skin: Colour
    hair: Colour
    hair_shade: Colour
    eyes: Colour
    coat: Colour
    coat_shade: Colour
    accent: Colour  # Mira's hair clip, Jun's scarf
    hair_style: Literal["long", "spiky"]


MIRA = Look(
    skin=(255, 226, 206),
    hair=(236, 104, 64),
    hair_shade=(186, 68, 52),
    eyes=(48, 160, 128),
    coat=(250, 204, 70),
    coat_shade=(214, 160, 42),
    accent=(120, 200, 240),
    hair_style="long",
)
JUN = Look(
    skin=(240, 206, 182),
    hair=(46, 56, 98),
    hair_shade=(28, 34, 66),
    eyes=(208, 148, 52),
    coat=(92, 112, 146),
    coat_shade=(66, 82, 112),
    accent=(214, 62, 74),
    hair_style="spiky",
)
LOOKS = {"Mira": MIRA, "Jun": JUN}


# --- the pictures ------------------------------------------------------------------------------------------


def keyframe(name: Keyframe, width: int = 1280, height: int = 720) -> bytes:
    """One shot's keyframe as a PNG of width x height."""
    painters: dict[str, Callable[[_Canvas], None]] = {
        "harbor_wide": _harbor_wide,
        "jun_close": _jun_close,
        "mira_close": _mira_close,
        "two_shot": _two_shot,
    }
    canvas = _Canvas(width, height)
    painters[name](canvas)
    return canvas.png()


def portrait(name: str, side: int = 768) -> bytes:
    """A character's reference portrait (head and shoulders on a soft backdrop) as a square PNG."""
    look = LOOKS[name]
    canvas = _Canvas(side, side)
    top, bottom = ((250, 236, 214), (246, 190, 160)) if look is MIRA else ((214, 226, 246), (150, 170, 214))
    canvas.gradient([(0.0, top), (1.0, bottom)])
    canvas.bust(look, 0.5, 0.56, 0.9)
    return canvas.png()


# Where the face sits and how large, per candidate: nearer, further, off to one side.
CANDIDATE_FRAMINGS = ((0.5, 0.5, 1.15), (0.36, 0.6, 0.7), (0.64, 0.55, 0.85))


def candidate(name: str, variant: int, side: int = 768) -> bytes:
    """A would-be dataset picture of a character (the review station's practice): the portrait's bust, framed
    differently per `variant`, on the portrait's backdrop."""
    look = LOOKS[name]
    canvas = _Canvas(side, side)
    top, bottom = ((250, 236, 214), (246, 190, 160)) if look is MIRA else ((214, 226, 246), (150, 170, 214))
    canvas.gradient([(0.0, bottom), (1.0, top)])  # the backdrop upside down: not mistaken for the reference
    canvas.bust(look, *CANDIDATE_FRAMINGS[variant % len(CANDIDATE_FRAMINGS)])
    return canvas.png()


def _harbor_wide(c: _Canvas) -> None:
    c.dusk_sky(sun=(0.36, 0.58), stars=40)
    c.hills(0.58)
    c.lighthouse(0.84, 0.58, 0.34)
    c.sea(0.58, reflection_x=0.36)
    c.boat(0.16, 0.66, 0.10, (226, 232, 240))
    c.boat(0.58, 0.7, 0.13, (214, 86, 76))
    c.boat(0.7, 0.64, 0.07, (238, 220, 180))
    c.pier(0.0, 0.52, 0.78)
    c.lamp(0.08, 0.78, 0.3)
    c.lamp(0.46, 0.78, 0.3)
    c.figure(JUN, 0.4, 0.8, 0.16)
    c.figure(MIRA, 0.34, 0.8, 0.15)


def _jun_close(c: _Canvas) -> None:
    c.dusk_sky(sun=(0.18, 0.66), stars=30, glow=0.8)
    c.sea(0.66, reflection_x=0.18)
    c.boat(0.12, 0.74, 0.2, (214, 86, 76))
    c.boat(0.36, 0.7, 0.12, (226, 232, 240))
    c.lamp(0.9, 1.0, 0.7)
    c.bust(JUN, 0.62, 0.62, 1.05)


def _mira_close(c: _Canvas) -> None:
    c.dusk_sky(sun=(0.74, 0.62), stars=30, glow=1.1)
    c.hills(0.62, left=True)
    c.lighthouse(0.16, 0.64, 0.42)
    c.sea(0.64, reflection_x=0.74)
    c.bust(MIRA, 0.42, 0.62, 1.05)


def _two_shot(c: _Canvas) -> None:
    # Later: the sun has set, the stars are out and the ferry's lights are on the water.
    c.gradient([(0.0, (18, 20, 56)), (0.45, (62, 44, 108)), (0.66, (196, 104, 120)), (0.7, (236, 150, 110))])
    c.stars(90, 0.55)
    c.moon(0.82, 0.16, 0.05)
    c.sea(0.7, reflection_x=None, dark=True)
    c.ferry(0.5, 0.705, 0.1)
    c.bust(MIRA, 0.27, 0.7, 0.86)
    c.bust(JUN, 0.73, 0.7, 0.9)


# --- the canvas and its brushes ----------------------------------------------------------------------------


class _Canvas:
    """A supersampled RGB picture with brushes in relative coordinates (0..1 across and down)."""

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.w, self.h = width * SUPERSAMPLE, height * SUPERSAMPLE
        self.image = Image.new("RGB", (self.w, self.h))
        self.pen = ImageDraw.Draw(self.image)
        self.rng = random.Random(7)
        self.line = max(2, round(self.h / 260))

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.resize(self.size, Image.Resampling.LANCZOS).save(out, "PNG", optimize=False)
        return out.getvalue()

    def x(self, u: float) -> float:
        return u * self.w

    def y(self, v: float) -> float:
        return v * self.h

    def pts(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(self.x(u), self.y(v)) for u, v in points]

    # --- sky, sea and land ------------------------------------------------------------------------------

    def gradient(self, stops: list[tuple[float, Colour]], top: float = 0.0, bottom: float = 1.0) -> None:
        """Vertical colour stops (position, colour) between `top` and `bottom` (relative)."""
        y0, y1 = round(self.y(top)), round(self.y(bottom))
        where = np.linspace(0.0, 1.0, max(1, y1 - y0))
        positions = [p for p, _ in stops]
        rows = np.stack([np.interp(where, positions, [c[i] for _, c in stops]) for i in range(3)], axis=1)
        band = np.repeat(rows[:, None, :], self.w, axis=1).astype(np.uint8)
        self.image.paste(Image.fromarray(band, "RGB"), (0, y0))

    def dusk_sky(self, sun: tuple[float, float], stars: int, glow: float = 1.0) -> None:
        self.gradient(
            [(0.0, (34, 30, 84)), (0.3, (96, 58, 126)), (0.5, (214, 108, 118)), (0.62, (250, 168, 104))],
            bottom=sun[1] + 0.12,
        )
        self.stars(stars, 0.3)
        sx, sy, radius = self.x(sun[0]), self.y(sun[1]), self.h * 0.07
        self.glow((sx, sy), radius * 3.2 * glow, (255, 196, 120), 150)
        self.pen.ellipse((sx - radius, sy - radius, sx + radius, sy + radius), fill=(255, 226, 150))
        # Flat cloud streaks across the sun, as painted backgrounds have them.
        for i, (u, v, length) in enumerate(((0.08, 0.32, 0.3), (0.5, 0.24, 0.36), (0.22, 0.45, 0.26))):
            colour = (236, 136, 140) if i != 1 else (168, 92, 140)
            x0, y0 = self.x(u), self.y(v)
            self.pen.rounded_rectangle(
                (x0, y0, x0 + self.x(length), y0 + self.h * 0.022), radius=self.h * 0.011, fill=colour
            )

    def stars(self, count: int, below: float) -> None:
        for _ in range(count):
            u, v = self.rng.random(), self.rng.random() * below
            r = self.h * (0.0015 + 0.002 * self.rng.random())
            self.pen.ellipse((self.x(u) - r, self.y(v) - r, self.x(u) + r, self.y(v) + r), fill=(255, 246, 220))

    def moon(self, u: float, v: float, size: float) -> None:
        """A crescent: the disc less an offset disc, cut in a mask so the sky behind shows through."""
        r = self.h * size
        cx, cy = self.x(u), self.y(v)
        self.glow((cx, cy), r * 3, (230, 230, 255), 90)
        side = int(r * 2) + 2
        mask = Image.new("L", (side, side), 0)
        cut = ImageDraw.Draw(mask)
        cut.ellipse((0, 0, side - 1, side - 1), fill=255)
        cut.ellipse((r * 0.5, -r * 0.15, r * 2.4, r * 1.75), fill=0)
        self.image.paste(Image.new("RGB", (side, side), (250, 246, 226)), (int(cx - r), int(cy - r)), mask)

    def hills(self, horizon: float, left: bool = False) -> None:
        far = [(0.0, horizon), (0.0, horizon - 0.07), (0.18, horizon - 0.11), (0.4, horizon - 0.05)]
        far += [(0.62, horizon - 0.09), (0.86, horizon - 0.04), (1.0, horizon - 0.07), (1.0, horizon)]
        if left:
            far = [(1.0 - u, v) for u, v in far]
        self.pen.polygon(self.pts(far), fill=(112, 70, 122))
        near = [(0.66, horizon), (0.76, horizon - 0.06), (0.92, horizon - 0.08), (1.0, horizon - 0.06), (1.0, horizon)]
        if left:
            near = [(1.0 - u, v) for u, v in near]
        self.pen.polygon(self.pts(near), fill=(74, 50, 96))

    def sea(self, horizon: float, reflection_x: float | None, dark: bool = False) -> None:
        top, bottom = ((44, 40, 98), (20, 22, 58)) if dark else ((96, 70, 136), (36, 38, 92))
        self.gradient([(0.0, top), (1.0, bottom)], top=horizon)
        stripes = self.rng
        for i in range(26):
            v = horizon + (1 - horizon) * (i + stripes.random()) / 26
            spread = 0.02 + 0.12 * (v - horizon) / (1 - horizon)
            centre = reflection_x if reflection_x is not None else stripes.random()
            u0 = centre - spread * (0.4 + stripes.random())
            colour = (255, 190, 120) if reflection_x is not None else (120, 110, 190)
            self.pen.rounded_rectangle(
                (self.x(u0), self.y(v), self.x(u0 + spread * 1.6), self.y(v) + self.h * 0.006),
                radius=self.h * 0.003,
                fill=colour,
            )
        self.pen.line((0, self.y(horizon), self.w, self.y(horizon)), fill=(255, 214, 160), width=self.line)

    def glow(self, centre: tuple[float, float], radius: float, colour: Colour, strength: int) -> None:
        """A soft light: a blurred disc, added on a small layer so it stays cheap."""
        side = max(8, int(radius * 2.4))
        layer = Image.new("L", (side, side), 0)
        ImageDraw.Draw(layer).ellipse((side * 0.3, side * 0.3, side * 0.7, side * 0.7), fill=strength)
        layer = layer.filter(ImageFilter.GaussianBlur(side * 0.12))
        box = (int(centre[0] - side / 2), int(centre[1] - side / 2))
        self.image.paste(Image.new("RGB", (side, side), colour), box, layer)

    # --- the harbor ---------------------------------------------------------------------------------------

    def lighthouse(self, u: float, base: float, height: float) -> None:
        half_bottom, half_top = 0.028, 0.018
        top = base - height
        body = [(u - half_bottom, base), (u - half_top, top), (u + half_top, top), (u + half_bottom, base)]
        self.pen.polygon(self.pts(body), fill=(244, 238, 232), outline=OUTLINE, width=self.line)
        for k in (0.2, 0.55):  # red bands
            v0, v1 = top + height * k, top + height * (k + 0.15)
            w0 = half_top + (half_bottom - half_top) * k
            w1 = half_top + (half_bottom - half_top) * (k + 0.15)
            band = [(u - w0, v0), (u + w0, v0), (u + w1, v1), (u - w1, v1)]
            self.pen.polygon(self.pts(band), fill=(206, 64, 72))
        lamp_top = top - height * 0.12
        self.glow((self.x(u), self.y(top - height * 0.06)), self.h * 0.12, (255, 236, 150), 200)
        room = (self.x(u - half_top), self.y(lamp_top), self.x(u + half_top), self.y(top))
        self.pen.rectangle(room, fill=(255, 232, 140), outline=OUTLINE, width=self.line)
        roof = [(u - half_top * 1.3, lamp_top), (u, lamp_top - height * 0.08), (u + half_top * 1.3, lamp_top)]
        self.pen.polygon(self.pts(roof), fill=(206, 64, 72), outline=OUTLINE, width=self.line)

    def boat(self, u: float, v: float, size: float, hull: Colour) -> None:
        hull_pts = [(u - size, v - size * 0.2), (u + size, v - size * 0.2), (u + size * 0.7, v), (u - size * 0.8, v)]
        self.pen.polygon(self.pts(hull_pts), fill=hull, outline=OUTLINE, width=self.line)
        cabin = (self.x(u - size * 0.3), self.y(v - size * 0.55), self.x(u + size * 0.25), self.y(v - size * 0.2))
        self.pen.rectangle(cabin, fill=(246, 240, 226), outline=OUTLINE, width=self.line)
        window = (self.x(u - size * 0.2), self.y(v - size * 0.45), self.x(u - size * 0.02), self.y(v - size * 0.3))
        self.pen.rectangle(window, fill=(255, 214, 120))
        self.pen.line(self.pts([(u + size * 0.5, v - size * 0.2), (u + size * 0.5, v - size * 1.2)]), OUTLINE, 2)

    def ferry(self, u: float, v: float, size: float) -> None:
        hull = [(u - size, v - size * 0.12), (u + size, v - size * 0.12), (u + size * 0.85, v), (u - size * 0.9, v)]
        self.pen.polygon(self.pts(hull), fill=(46, 48, 84))
        deck = (self.x(u - size * 0.7), self.y(v - size * 0.3), self.x(u + size * 0.6), self.y(v - size * 0.12))
        self.pen.rectangle(deck, fill=(60, 62, 104))
        for k in range(9):
            wx = u - size * 0.62 + k * size * 0.14
            self.glow((self.x(wx + 0.01), self.y(v - size * 0.21)), self.h * 0.02, (255, 214, 130), 160)
            box = (self.x(wx), self.y(v - size * 0.25), self.x(wx + size * 0.07), self.y(v - size * 0.17))
            self.pen.rectangle(box, fill=(255, 224, 150))

    def pier(self, u0: float, u1: float, v: float) -> None:
        deck = [(u0, v), (u1, v - 0.02), (u1, v + 0.02), (u0, v + 0.06)]
        self.pen.polygon(self.pts(deck), fill=(118, 78, 70), outline=OUTLINE, width=self.line)
        for k in range(9):
            pu = u0 + (u1 - u0) * k / 8
            pv = v + 0.06 - 0.04 * k / 8
            self.pen.rectangle((self.x(pu) - 5, self.y(pv - 0.01), self.x(pu) + 5, self.h), fill=(72, 46, 52))

    def lamp(self, u: float, base: float, height: float) -> None:
        top = base - height
        self.glow((self.x(u), self.y(top)), self.h * height * 0.35, (255, 220, 140), 190)
        self.pen.line(self.pts([(u, base), (u, top)]), fill=(44, 36, 60), width=self.line * 2)
        r = self.h * height * 0.05
        self.pen.ellipse(
            (self.x(u) - r, self.y(top) - r, self.x(u) + r, self.y(top) + r), fill=(255, 236, 170), outline=OUTLINE
        )

    # --- the characters ------------------------------------------------------------------------------------

    def figure(self, look: Look, u: float, feet: float, height: float) -> None:
        """A small standing figure for the wide shot, seen from behind, looking out to sea."""
        h = height
        head = h * 0.16
        legs = [(u - h * 0.06, feet), (u - h * 0.05, feet - h * 0.36), (u + h * 0.05, feet - h * 0.36)]
        legs += [(u + h * 0.06, feet)]
        self.pen.polygon(self.pts(legs), fill=(52, 46, 70))
        body = [(u - h * 0.11, feet - h * 0.3), (u - h * 0.09, feet - h * 0.74), (u + h * 0.09, feet - h * 0.74)]
        body += [(u + h * 0.11, feet - h * 0.3)]
        self.pen.polygon(self.pts(body), fill=look.coat, outline=OUTLINE, width=self.line)
        hx, hy = self.x(u), self.y(feet - h * 0.84)
        rx, ry = self.h * head * 0.5, self.h * head * 0.55
        if look.hair_style == "long":
            tail = [(u - h * 0.07, feet - h * 0.86), (u + h * 0.07, feet - h * 0.86), (u + h * 0.05, feet - h * 0.5)]
            tail += [(u - h * 0.05, feet - h * 0.5)]
            self.pen.polygon(self.pts(tail), fill=look.hair, outline=OUTLINE, width=self.line)
        self.pen.ellipse((hx - rx, hy - ry, hx + rx, hy + ry), fill=look.hair, outline=OUTLINE, width=self.line)
        if look.hair_style == "spiky":
            for k in (-1, 0, 1):
                spike = [(hx + k * rx * 0.6 - rx * 0.3, hy - ry * 0.6), (hx + k * rx * 0.9, hy - ry * 1.5)]
                spike += [(hx + k * rx * 0.6 + rx * 0.3, hy - ry * 0.6)]
                self.pen.polygon(spike, fill=look.hair)
        if look.accent == JUN.accent:
            scarf = (self.x(u - h * 0.1), self.y(feet - h * 0.76), self.x(u + h * 0.1), self.y(feet - h * 0.7))
            self.pen.rectangle(scarf, fill=look.accent)

    def bust(self, look: Look, u: float, v: float, scale: float) -> None:
        """Head and shoulders facing the viewer; (u, v) is the centre of the face, `scale` 1 fills the height."""
        s = self.h * 0.3 * scale  # the head's height in pixels
        cx, cy = self.x(u), self.y(v)
        line = self.line

        def box(dx0: float, dy0: float, dx1: float, dy1: float) -> tuple[float, float, float, float]:
            return (cx + dx0 * s, cy + dy0 * s, cx + dx1 * s, cy + dy1 * s)

        def poly(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(cx + dx * s, cy + dy * s) for dx, dy in points]

        # Hair behind the head (long hair falls to the shoulders).
        if look.hair_style == "long":
            back = [(-0.62, -0.3), (-0.7, 0.95), (-0.3, 1.05), (0.3, 1.05), (0.7, 0.95), (0.62, -0.3)]
            self.pen.polygon(poly(back), fill=look.hair_shade, outline=OUTLINE, width=line)
        # Shoulders and coat.
        coat = [(-1.25, 2.4), (-1.1, 1.05), (-0.45, 0.72), (0.45, 0.72), (1.1, 1.05), (1.25, 2.4)]
        self.pen.polygon(poly(coat), fill=look.coat, outline=OUTLINE, width=line)
        self.pen.polygon(poly([(-1.25, 2.4), (-1.1, 1.05), (-0.8, 1.2), (-0.9, 2.4)]), fill=look.coat_shade)
        self.pen.rectangle(box(-0.16, 0.5, 0.16, 0.82), fill=_shade(look.skin, 0.86), outline=OUTLINE, width=line)
        if look is JUN or look.accent == JUN.accent:
            scarf = [(-0.55, 0.7), (0.55, 0.7), (0.5, 0.98), (-0.5, 0.98)]
            self.pen.polygon(poly(scarf), fill=look.accent, outline=OUTLINE, width=line)
            self.pen.polygon(poly([(0.18, 0.9), (0.42, 0.9), (0.48, 1.6), (0.24, 1.6)]), fill=_shade(look.accent, 0.8))
        else:
            collar = [(-0.5, 0.74), (0.0, 1.1), (0.5, 0.74), (0.62, 0.9), (0.0, 1.3), (-0.62, 0.9)]
            self.pen.polygon(poly(collar), fill=look.coat_shade, outline=OUTLINE, width=line)
            for k in (1.5, 1.95):
                self.pen.ellipse(box(-0.05, k, 0.05, k + 0.1), fill=(250, 244, 230), outline=OUTLINE, width=line)
        # The face.
        self.pen.polygon(poly(_FACE), fill=look.skin, outline=OUTLINE, width=line)
        for side in (-1, 1):
            self._eye(look, cx + side * 0.22 * s, cy + 0.06 * s, s)
            blush = box(side * 0.3 - 0.09, 0.3, side * 0.3 + 0.09, 0.36)
            self.pen.ellipse(blush, fill=_mix(look.skin, (240, 120, 130), 0.45))
            brow = [(side * 0.1, -0.2), (side * 0.34, -0.24)]
            self.pen.line(poly(brow), fill=look.hair_shade, width=line * 2)
        self.pen.arc(box(-0.08, 0.36, 0.08, 0.48), 20, 160, fill=(160, 70, 80), width=line)
        # Hair in front: bangs (and Jun's spikes).
        if look.hair_style == "long":
            cap = [(-0.6, 0.15), (-0.62, -0.4), (-0.35, -0.74), (0.0, -0.8), (0.35, -0.74), (0.62, -0.4)]
            cap += [(0.6, 0.15), (0.46, -0.24), (0.3, -0.1), (0.18, -0.3), (0.0, -0.12), (-0.2, -0.34)]
            cap += [(-0.34, -0.08), (-0.48, -0.22)]
            self.pen.polygon(poly(cap), fill=look.hair, outline=OUTLINE, width=line)
            side_locks = [[(-0.6, -0.1), (-0.66, 0.7), (-0.48, 0.4)], [(0.6, -0.1), (0.66, 0.7), (0.48, 0.4)]]
            for lock in side_locks:
                self.pen.polygon(poly(lock), fill=look.hair, outline=OUTLINE, width=line)
            star = _star(cx + 0.44 * s, cy - 0.42 * s, 0.09 * s)
            self.pen.polygon(star, fill=look.accent, outline=OUTLINE, width=line)
            self.pen.line(poly([(-0.3, -0.6), (-0.05, -0.68)]), fill=_mix(look.hair, (255, 255, 255), 0.4), width=line)
        else:
            spikes = [(-0.62, 0.1), (-0.74, -0.3), (-0.58, -0.5), (-0.78, -0.72), (-0.4, -0.76), (-0.44, -1.0)]
            spikes += [(-0.1, -0.82), (0.06, -1.06), (0.26, -0.8), (0.56, -0.92), (0.52, -0.62), (0.78, -0.56)]
            spikes += [(0.6, -0.28), (0.66, 0.1), (0.48, -0.2), (0.36, -0.06), (0.24, -0.32), (0.06, -0.1)]
            spikes += [(-0.1, -0.34), (-0.26, -0.08), (-0.4, -0.3), (-0.5, -0.08)]
            self.pen.polygon(poly(spikes), fill=look.hair, outline=OUTLINE, width=line)
            self.pen.line(poly([(-0.2, -0.7), (0.1, -0.76)]), fill=_mix(look.hair, (255, 255, 255), 0.35), width=line)

    def _eye(self, look: Look, ex: float, ey: float, s: float) -> None:
        w, h = 0.13 * s, 0.17 * s
        self.pen.ellipse((ex - w, ey - h, ex + w, ey + h), fill=(255, 255, 255), outline=OUTLINE, width=self.line)
        iw, ih = w * 0.78, h * 0.86
        self.pen.ellipse((ex - iw, ey - ih * 0.8, ex + iw, ey + ih), fill=look.eyes)
        dark = _shade(look.eyes, 0.45)
        self.pen.ellipse((ex - iw * 0.5, ey - ih * 0.3, ex + iw * 0.5, ey + ih * 0.6), fill=dark)
        self.pen.ellipse((ex - w * 0.5, ey - h * 0.6, ex - w * 0.05, ey - h * 0.15), fill=(255, 255, 255))
        self.pen.ellipse((ex + w * 0.15, ey + h * 0.3, ex + w * 0.4, ey + h * 0.55), fill=(255, 255, 255))
        self.pen.line((ex - w * 1.1, ey - h * 1.02, ex + w * 1.1, ey - h * 1.02), fill=OUTLINE, width=self.line * 2)


# The face's outline around its centre, in head heights: a round forehead narrowing to a small pointed chin.
_FACE: list[tuple[float, float]] = [
    *((0.5 * math.cos(a), -0.62 * math.sin(a)) for a in (math.pi * k / 12 for k in range(13))),
    (-0.49, 0.14), (-0.42, 0.34), (-0.28, 0.52), (-0.12, 0.63), (0.0, 0.67),
    (0.12, 0.63), (0.28, 0.52), (0.42, 0.34), (0.49, 0.14),
]  # fmt: skip


def _shade(colour: Colour, factor: float) -> Colour:
    return (int(colour[0] * factor), int(colour[1] * factor), int(colour[2] * factor))


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points
