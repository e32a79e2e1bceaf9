"""Fixtures for the improve loop (a pytest plugin): a writable copy of the samples index, and
feedback a user could give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Questions about the bundled samples with an answer the passage holds, and questions they cannot answer.
ANSWERABLE = [
    ("Who founded the Duchy of Normandy?", "normans", "Rollo"),
    ("Which people gave their name to Normandy?", "normans", "Normans"),
    ("What language did the Normans speak?", "normans", "French"),
    ("Which country is Normandy in?", "normans", "France"),
    ("What did the Norse leader agree to swear?", "normans", "fealty"),
    ("What does a steam engine use to do work?", "steam", "steam"),
    ("What is the efficiency of a steam engine limited by?", "steam", "Rankine"),
    ("What replaced reciprocating engines in power stations?", "steam", "turbines"),
    ("Who invented packet switching?", "packet", "Davies"),
    ("Where did Donald Davies work?", "packet", "National Physical Laboratory"),
    ("Which network used packet switching first?", "packet", "ARPANET"),
    ("Who described distributed adaptive message block switching?", "packet", "Baran"),
    ("What are data grouped into in packet switching?", "packet", "packets"),
    ("What kind of turbines replaced engines?", "steam", "turbines"),
    ("Who was the first Duke of Normandy?", "normans", "Rollo"),
    ("What does packet switching divide a message into?", "packet", "packets"),
]
UNANSWERABLE = [
    "What is the capital of Australia?",
    "Who won the 1998 football world cup?",
    "How tall is Mount Everest?",
    "What is the boiling point of mercury?",
    "Who painted the Mona Lisa?",
    "How many moons does Jupiter have?",
    "What is the population of Tokyo?",
    "Who wrote the Odyssey?",
]


@pytest.fixture
def improve_index(sample_index: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    return target


def give_feedback(qa) -> int:
    """Feedback as a user gives it on the page: the answer marked in the passage that holds it (corrected
    when the reader was wrong), or "not in these documents"; returns how many records were stored."""
    given = 0
    for question, topic, answer in ANSWERABLE:
        passage = next((p for p in qa.search(f"{topic} {answer}", top_k=5) if answer in p.content), None)
        assert passage is not None, f"no sample passage holds {answer!r}"
        at = passage.content.index(answer)
        qa.feedback(question, passage.id, "wrong", answer_start=at, answer_end=at + len(answer))
        given += 1
    for question in UNANSWERABLE:
        passage = qa.search(question, top_k=1)[0]
        qa.feedback(question, passage.id, "not_in_documents")
        given += 1
    return given
