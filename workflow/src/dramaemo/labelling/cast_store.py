"""The cast page's data: the characters the index found, and what the user makes of them.

``CastStore`` starts from the cast (each character's member tracks, as footage.cast found
them; authoring.cast_page reads them) and keeps
the user's actions durably, as the label store does: every action (``name``, ``merge``,
``split``, ``undo``) is appended to an event log beside the names file
(``<names>.log.jsonl``, core.durable.EventLog: flushed and fsynced under a thread lock and
a file lock before the page hears back; two tabs or two servers read each other's events
under the lock). Two files are derived from the log and replaced atomically, each only
when its content changes:

- the names file (``character,name``, footage.cast.read_names' format), read by search and
  the storyboard: renaming reruns only those;
- the edits file (footage.cast.read_edits' format): every character with its member
  tracks, merges applied, and the tracks split off, read by rule cast so that the ids
  survive new episodes; it changes on a merge or split only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from dramaemo.core.durable import LOG_SUFFIX, EventLog, replace_text
from dramaemo.core.errors import UserError

ACTIONS = ("name", "merge", "split", "undo")


class NothingToUndo(Exception):
    pass


class CastStore:
    """The characters of ``members`` (id -> its (episode, track) pairs) with the user's
    names, merges and splits."""

    def __init__(self, members: dict[str, set[tuple[str, int]]], names: str | Path, edits: str | Path):
        self.names_path, self.edits_path = Path(names), Path(edits)
        self.log = EventLog(self.names_path.with_name(self.names_path.name + LOG_SUFFIX))
        self._initial = {character: set(tracks) for character, tracks in members.items()}
        self._events: list[dict] = []
        with self.log.locked():
            self._catch_up()
            self._write()

    def close(self) -> None:
        self.log.close()

    # -- state: the initial cast with every effective event applied in order

    def _catch_up(self) -> None:
        for line, event in self.log.catch_up():
            if event.get("action") not in ACTIONS:
                raise UserError(f"{self.log.path}: line {line}: not a cast page event")
            self._events.append(event)

    def _effective(self) -> list[dict]:
        undone = {event["undoes"] for event in self._events if event["action"] == "undo"}
        return [e for e in self._events if e["action"] != "undo" and e["seq"] not in undone]

    def state(self) -> tuple[dict[str, set], dict[str, str], set]:
        """(character -> member tracks, character -> name, split tracks)."""
        members = {character: set(tracks) for character, tracks in self._initial.items()}
        names: dict[str, str] = {}
        split: set[tuple[str, int]] = set()
        for event in self._effective():
            if event["action"] == "name":
                if event["name"]:
                    names[event["character"]] = event["name"]
                else:
                    names.pop(event["character"], None)
            elif event["action"] == "merge":
                gone = members.pop(event["character"], set())
                members.setdefault(event["into"], set()).update(gone)
                if event["into"] not in names and event["character"] in names:
                    names[event["into"]] = names[event["character"]]
                names.pop(event["character"], None)
            elif event["action"] == "split":
                key = (event["episode"], event["track"])
                split.add(key)
                for tracks in members.values():
                    tracks.discard(key)
        return members, names, split

    def _write(self) -> None:
        members, names, split = self.state()
        lines = ["character,name"] + [
            f"{character},{names[character]}" for character in sorted(names) if character in members
        ]
        _replace_if_changed(self.names_path, "\n".join(lines) + "\n")
        edits = {
            "characters": {
                c: sorted([e, t] for e, t in tracks) for c, tracks in sorted(members.items()) if tracks
            },
            "split": sorted([e, t] for e, t in split),
        }
        _replace_if_changed(self.edits_path, json.dumps(edits, indent=1) + "\n")

    def _act(self, event: dict) -> dict:
        with self.log.locked():
            self._catch_up()
            self._check(event)
            event = {
                "seq": len(self._events) + 1,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                **event,
            }
            self.log.append(event)
            self._events.append(event)
            self._write()
        return event

    def _check(self, event: dict) -> None:
        members, names, _ = self.state()
        if event["action"] == "name":
            if event["character"] not in members:
                raise UserError(f"unknown character {event['character']!r}")
            taken = {name.casefold(): c for c, name in names.items() if c != event["character"]}
            if event["name"] and event["name"].casefold() in taken:
                raise UserError(
                    f"{event['name']!r} is already {taken[event['name'].casefold()]}'s name; "
                    "merge the two characters instead"
                )
        elif event["action"] == "merge":
            for character in (event["character"], event["into"]):
                if character not in members:
                    raise UserError(f"unknown character {character!r}")
            if event["character"] == event["into"]:
                raise UserError(f"cannot merge {event['character']} into itself")
        elif event["action"] == "split":
            key = (event["episode"], event["track"])
            if not any(key in tracks for tracks in members.values()):
                raise UserError(f"track {event['track']} of {event['episode']} is in no character")

    # -- actions

    def name(self, character: str, name: str) -> dict:
        name = " ".join(str(name).split())
        if "," in name or '"' in name:
            raise UserError(f"{name!r}: a name cannot hold a comma or a quote")
        return self._act({"action": "name", "character": character, "name": name})

    def merge(self, character: str, into: str) -> dict:
        return self._act({"action": "merge", "character": character, "into": into})

    def split(self, episode: str, track: int) -> dict:
        return self._act({"action": "split", "episode": episode, "track": int(track)})

    def undo(self) -> dict:
        with self.log.locked():
            self._catch_up()
            effective = self._effective()
            if not effective:
                raise NothingToUndo()
        return self._act({"action": "undo", "undoes": effective[-1]["seq"]})

    def refresh(self) -> None:
        """Read what other tabs or servers appended."""
        with self.log.locked():
            self._catch_up()
            self._write()


def _replace_if_changed(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically, unless it already holds it (an unchanged
    file keeps its time, so Snakemake reruns nothing for it)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, text)
