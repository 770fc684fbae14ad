"""Chapter titles from each chapter's own words (`titles.chapter_titles`)."""

from __future__ import annotations

from vidigest.modules.summary.text import words_of
from vidigest.modules.summary.titles import chapter_titles, stem

GLACIERS = [
    "A glacier is a river of ice that forms where more snow falls than melts.",
    "The weight of the snow squeezes the lower layers into dense blue ice.",
    "As it moves, a glacier scrapes the rock and carves a valley with a U shape.",
    "When the glacier retreats, the hollow it dug fills with water.",
]
PENGUINS = [
    "Penguins are birds that cannot fly, but they swim through icy water.",
    "The emperor penguin breeds on the ice of Antarctica in the middle of winter.",
    "Penguins huddle on the ice to keep warm, and the ice shelters them from the wind.",
    "Their feathers trap warm air, and a layer of fat keeps the cold of the ice out.",
]
SOLAR = [
    "A solar panel turns sunlight into electricity without moving parts.",
    "Each solar panel is made of many cells of silicon.",
    "The price of a solar panel has fallen by ninety percent.",
]


def test_each_chapter_is_titled_by_its_subject() -> None:
    titles = chapter_titles([GLACIERS, PENGUINS, SOLAR])
    assert [words_of(t)[0] for t in titles] == ["glacier", "penguins", "solar"], titles
    assert titles[2].startswith("Solar panel"), titles  # the recurring pair, not "Solar"
    for t in titles:
        assert t[0].isupper() and 1 <= len(t.split()) <= 5, t


def test_never_a_word_a_neighbouring_chapter_uses_as_much() -> None:
    # "ice" is frequent in the glacier chapter, but the penguin chapter says it more
    titles = chapter_titles([GLACIERS, PENGUINS])
    for title, other in ((titles[0], PENGUINS), (titles[1], GLACIERS)):
        mine = {stem(w) for w in words_of(title) if w != "and"}
        assert "ice" not in mine, titles
        other_counts = {stem(w): 0 for w in mine}
        for s in other:
            for w in words_of(s):
                if stem(w) in other_counts:
                    other_counts[stem(w)] += 1
        assert all(n < 2 for n in other_counts.values()), (title, other_counts)


def test_names_keep_their_capitals() -> None:
    roads = [
        "Roman roads joined the empire from Britain to Syria.",
        "Roman roads were built in layers of stone and gravel.",
        "Many highways still follow Roman roads.",
    ]
    (title, _) = chapter_titles([roads, SOLAR], {"roman": "Roman"})
    assert title == "Roman roads", title


def test_a_chapter_without_words_of_its_own_gets_no_title() -> None:
    assert chapter_titles([["Um, yeah."], SOLAR])[0] == ""
