"""Meta's template components, both ways: the values an approved template needs (read from its
``components`` when the list is read), and the ``components`` of a send that fills them.

A template's values are named as ``Template.variables`` names them:
- the body's placeholders as they are written (``1``, ``2``, or ``first_name``);
- the header's text placeholders as ``header.<name>``, or ``media.image`` (``media.video``,
  ``media.document``) for a media header, whose value is the public ``https://`` link Meta fetches;
- a URL button's placeholder as ``button.<index>`` (the end of its link).

A send names its values the same way (an object); a plain list fills the body only, in order.
"""
from __future__ import annotations

from collections.abc import Mapping

from vani.plugins.messaging import BUTTON, HEADER, MEDIA, MEDIA_HEADERS, placeholders, variable_names


def _kind(component: Mapping) -> str:
    return str(component.get("type") or "").upper()


def template_variables(components: list) -> tuple[tuple[str, ...], str]:
    """Every value an approved template takes, header first, then body, then buttons; and its
    body text."""
    parts = [c for c in components if isinstance(c, Mapping)]
    body = next((c["text"] for c in parts if _kind(c) == "BODY" and isinstance(c.get("text"), str)), "")
    header: tuple[str, ...] = ()
    for c in parts:
        if _kind(c) != "HEADER":
            continue
        media = str(c.get("format") or "TEXT").lower()
        if media in MEDIA_HEADERS:
            header = (MEDIA + media,)
        elif isinstance(c.get("text"), str):
            header = tuple(HEADER + name for name in placeholders(c["text"]))
    buttons = []
    for c in parts:
        if _kind(c) == "BUTTONS" and isinstance(c.get("buttons"), list):
            buttons = [f"{BUTTON}{i}" for i, b in enumerate(c["buttons"]) if isinstance(b, Mapping)
                       and str(b.get("type") or "").upper() == "URL" and placeholders(str(b.get("url") or ""))]
    return header + placeholders(body) + tuple(buttons), body


def _texts(values: Mapping) -> list[dict]:
    """Text parameters: by position when every name is a number (``{{1}}``), else by name."""
    if all(str(k).isdecimal() for k in values):
        return [{"type": "text", "text": str(values[k])} for k in variable_names(values)]
    return [{"type": "text", "parameter_name": str(k), "text": str(values[k])} for k in sorted(values, key=str)]


def send_components(variables) -> list[dict]:
    """The ``components`` of a template send for these values (none when there are none)."""
    if not isinstance(variables, Mapping):  # a list: the body's values in order
        return [{"type": "body", "parameters": [{"type": "text", "text": str(v)} for v in variables]}] \
            if variables else []
    header = {k.removeprefix(HEADER): v for k, v in variables.items() if str(k).startswith(HEADER)}
    buttons = {k.removeprefix(BUTTON): v for k, v in variables.items() if str(k).startswith(BUTTON)}
    body = {k: v for k, v in variables.items() if not str(k).startswith((HEADER, MEDIA, BUTTON))}
    components = []
    media = next((m for m in MEDIA_HEADERS if MEDIA + m in variables), None)
    if media is not None:
        link = str(variables[MEDIA + media])
        components.append({"type": "header", "parameters": [{"type": media, media: {"link": link}}]})
    elif header:
        components.append({"type": "header", "parameters": _texts(header)})
    if body:
        components.append({"type": "body", "parameters": _texts(body)})
    for index in sorted((i for i in buttons if i.isdecimal()), key=int):
        components.append({"type": "button", "sub_type": "url", "index": index,
                           "parameters": [{"type": "text", "text": str(buttons[index])}]})
    return components
