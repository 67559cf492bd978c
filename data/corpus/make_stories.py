"""Write ``stories.txt``: short children's stories from a seeded probabilistic grammar.

Run from anywhere, with any Python 3.10+ (standard library only):

    python data/corpus/make_stories.py            # rewrites data/corpus/stories.txt
    python data/corpus/make_stories.py --out X    # writes X instead

The output is the same byte for byte on every run and machine: one ``random.Random(SEED)``
drives every choice, and only lists and tuples are iterated (never sets, whose order of
strings changes between runs).

Each story is a small world: a hero and a friend (names with matching pronouns), often a
pet, one place with its own hiding spots, and one object with a colour. The story introduces
them and then refers back to them ("Mia found a blue kite in the garden. ... Mia gave the blue
kite to Tom."), so predicting a name, a colour or a spot needs what came many words earlier,
which an n-gram model cannot see. Episodes add quoted dialogue, counting that adds up
("Tom had five apples. He gave two apples to Mia. Now Tom had three apples.") and time words
that move forward through the day. Everything is in the simple past tense.

File format: each story is one or more lines of text (a paragraph per line), followed by a
line holding only ``<|endoftext|>``. The file is UTF-8 with ``\\n`` line ends and ends with a
newline.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from pathlib import Path

SEED = 1111
N_STORIES = 1300
END_OF_TEXT = "<|endoftext|>"
DEFAULT_OUT = Path(__file__).resolve().parent / "stories.txt"

GIRLS = ("Mia", "Lily", "Emma", "Zoe", "Anna", "Rosa", "Nina", "Lucy", "Ella", "Sara",
         "Maya", "Ruby", "Ivy", "Hana", "Leah", "Amy", "Julia", "Clara", "Nora", "Daisy")
BOYS = ("Tom", "Sam", "Ben", "Leo", "Max", "Jack", "Finn", "Noah", "Omar", "Luke",
        "Adam", "Eli", "Hugo", "Kai", "Theo", "Owen", "Ravi", "Jake", "Milo", "Dan")
PET_KINDS = ("dog", "cat", "rabbit", "duck", "puppy", "kitten")
PET_NAMES = ("Spot", "Fluffy", "Buddy", "Coco", "Pip", "Rex", "Bella", "Sunny", "Biscuit", "Pepper")
GROWN_UPS = ("mom", "dad", "grandma", "grandpa")
STRANGERS = (("an old man", "he"), ("an old woman", "she"), ("a tall man", "he"),
             ("a kind lady", "she"), ("a farmer", "he"), ("a little girl", "she"),
             ("a little boy", "he"))

COLOURS = ("red", "blue", "green", "yellow", "pink", "purple", "orange", "white", "black", "brown")
SIZES = ("big", "little", "shiny", "old", "new", "tiny", "soft")

# noun, then what two children do with it ({t} is the object's noun phrase)
THINGS = (
    ("kite", "flew {t} high in the sky"),
    ("ball", "kicked {t} back and forth"),
    ("boat", "sailed {t} in a puddle"),
    ("drum", "took turns to play {t}"),
    ("book", "read {t} together"),
    ("hat", "took turns to wear {t}"),
    ("shell", "listened to the sea in {t}"),
    ("box", "filled {t} with pretty stones"),
    ("car", "raced {t} down a little hill"),
    ("train", "pushed {t} along the ground"),
    ("doll", "made a bed for {t}"),
    ("bell", "rang {t} again and again"),
    ("balloon", "tossed {t} up in the air"),
    ("map", "followed {t} to a secret tree"),
    ("bucket", "filled {t} with water"),
    ("feather", "tickled each other with {t}"),
    ("scarf", "took turns to wear {t}"),
    ("cup", "made pretend tea in {t}"),
    ("umbrella", "hid under {t}"),
    ("teddy bear", "had a picnic with {t}"),
)

# preposition + place, then three spots in it where something can be found or hidden
PLACES = (
    ("in", "the park", ("under a bench", "by the pond", "near the swings")),
    ("at", "the beach", ("in the sand", "behind a big rock", "near the water")),
    ("in", "the garden", ("under a bush", "between the flowers", "by the fence")),
    ("in", "the forest", ("under a log", "behind a tall tree", "in a pile of leaves")),
    ("on", "the farm", ("in the barn", "near the hay", "by the chicken house")),
    ("by", "the river", ("in the reeds", "under a little bridge", "on a flat stone")),
    ("on", "the hill", ("in the long grass", "behind a rock", "under an old tree")),
    ("at", "the lake", ("near the boats", "under the dock", "by the ducks")),
    ("at", "the market", ("under a table", "behind a fruit stand", "next to a basket")),
    ("at", "school", ("under a desk", "by the door", "on a shelf")),
    ("in", "the yard", ("under the steps", "behind the shed", "by the gate")),
    ("at", "the zoo", ("near the monkeys", "by the bird house", "under a bench")),
)

FOODS = (("apples", "apple"), ("cookies", "cookie"), ("cherries", "cherry"), ("grapes", "grape"),
         ("plums", "plum"), ("strawberries", "strawberry"), ("carrots", "carrot"), ("nuts", "nut"))
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
COUNTABLE = (("ducks", "on the pond"), ("birds", "on the fence"), ("clouds", "in the sky"),
             ("boats", "on the water"), ("ants", "on a leaf"), ("stars", "in the sky"),
             ("cows", "in the field"), ("frogs", "on a log"))
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FEELINGS = ("happy", "glad", "excited", "proud")
HOBBIES = ("to sing", "to draw", "to run fast", "to read books", "to dance", "to climb trees",
           "to play outside", "to build things", "to look at bugs", "to help at home")


@dataclass(frozen=True)
class Person:
    name: str
    he: str   # subject pronoun: he / she
    him: str  # object pronoun: him / her
    his: str  # possessive: his / her
    kind: str  # boy / girl


def person(name: str, girl: bool) -> Person:
    if girl:
        return Person(name, "she", "her", "her", "girl")
    return Person(name, "he", "him", "his", "boy")


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def a_or_an(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


class StoryWriter:
    """One story: its world (people, place, object) and the sentences written so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        names = [(n, True) for n in GIRLS] + [(n, False) for n in BOYS]
        first, second = rng.sample(names, 2)
        self.hero = person(*first)
        self.friend = person(*second)
        self.pet = (rng.choice(PET_KINDS), rng.choice(PET_NAMES)) if rng.random() < 0.4 else None
        self.grown_up = rng.choice(GROWN_UPS)
        self.prep, self.place, self.spots = rng.choice(PLACES)
        self.noun, self.play = rng.choice(THINGS)
        self.colour = rng.choice(COLOURS)
        self.size = rng.choice(SIZES) if rng.random() < 0.3 else ""
        self.paragraphs: list[list[str]] = []

    # small helpers -------------------------------------------------------------------------
    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def say(self, *sentences: str) -> None:
        self.paragraphs[-1].extend(sentences)

    def new_paragraph(self) -> None:
        self.paragraphs.append([])

    def thing(self, short: bool = False) -> str:
        """'the blue kite' (or, now and then when ``short``, 'the kite')."""
        if short and self.rng.random() < 0.4:
            return f"the {self.noun}"
        return f"the {self.colour} {self.noun}"

    def a_thing(self) -> str:
        words = " ".join(w for w in (self.size, self.colour, self.noun) if w)
        return a_or_an(words)

    def where(self) -> str:
        return f"{self.prep} {self.place}"

    # the parts of a story ------------------------------------------------------------------
    def opening(self) -> None:
        h = self.hero
        self.new_paragraph()
        self.say(self.pick(
            f"Once upon a time, there was a little {h.kind} named {h.name}.",
            f"There was once a {h.kind} called {h.name}.",
            f"{h.name} was a little {h.kind} who lived in a small house.",
            f"Once there was a {h.kind} named {h.name} who lived near a big town.",
            f"This is a story about a {h.kind} named {h.name}.",
        ))
        self.say(self.pick(
            f"{cap(h.he)} liked {self.rng.choice(HOBBIES)}.",
            f"{h.name} loved {self.rng.choice(HOBBIES)} more than anything.",
            f"{cap(h.he)} was {self.rng.choice(('kind', 'curious', 'brave', 'funny', 'shy'))} and "
            f"liked {self.rng.choice(HOBBIES)}.",
        ))
        if self.pet:
            kind, name = self.pet
            self.say(self.pick(
                f"{h.name} had a {kind} named {name}.",
                f"{cap(h.he)} had a little {kind}. Its name was {name}.",
                f"{h.name} and {h.his} {kind}, {name}, did everything together.",
            ))

    def going_out(self) -> None:
        h = self.hero
        day = self.rng.choice(DAYS)
        self.say(self.pick(
            f"One sunny morning, {h.name} went to play {self.where()}.",
            f"On {day}, {h.name} and {h.his} {self.grown_up} went {self.where_to()}.",
            f"One day, {h.name} walked {self.where_to()}.",
            f"Early one morning, {h.name} ran {self.where_to()} to play.",
        ))
        if self.pet:
            self.say(f"{self.pet[1]} came too.")

    def where_to(self) -> str:
        return "to school" if self.place == "school" else f"to {self.place}"

    def finding(self) -> None:
        h = self.hero
        spot = self.spots[0]
        self.new_paragraph()
        self.say(self.pick(
            f"{cap(self.where())}, {h.name} found {self.a_thing()} {spot}.",
            f"{cap(spot)}, {h.name} saw something. It was {self.a_thing()}!",
            f"{h.name} looked {spot} and found {self.a_thing()}.",
            f"Something was hiding {spot}. {h.name} looked closer. It was {self.a_thing()}.",
        ))
        self.say(self.pick(
            f"\"What a nice {self.noun}!\" said {h.name}.",
            f"\"Wow, {self.a_thing()}!\" {h.he} said.",
            f"{h.name} picked up {self.thing()} and smiled.",
            f"{cap(h.he)} held {self.thing(short=True)} in {h.his} hands. It was {self.colour} like "
            f"{self.colour_like()}.",
        ))

    def colour_like(self) -> str:
        return {"red": "a cherry", "blue": "the sky", "green": "the grass", "yellow": "the sun",
                "pink": "a flower", "purple": "a plum", "orange": "an orange", "white": "snow",
                "black": "the night", "brown": "a nut"}[self.colour]

    def friend_comes(self) -> None:
        h, f = self.hero, self.friend
        self.say(self.pick(
            f"Then {h.his} friend {f.name} came {self.where_here()}.",
            f"Soon, a {f.kind} named {f.name} walked by.",
            f"Just then, {f.name} ran up to {h.him}.",
            f"After a while, {h.his} friend {f.name} came to say hello.",
        ))
        self.say(self.pick(
            f"\"Hello, {h.name}!\" said {f.name}. \"What do you have there?\"",
            f"\"Hi, {h.name},\" said {f.name}. \"What did you find?\"",
            f"\"What is that, {h.name}?\" asked {f.name}.",
        ))
        self.say(self.pick(
            f"\"I found {self.a_thing()} {self.spots[0]},\" said {h.name}.",
            f"\"It is {self.a_thing()},\" said {h.name}. \"I found it {self.spots[0]}.\"",
            f"{h.name} showed {f.name} {self.thing()}. \"Look what I found!\" {h.he} said.",
        ))

    def where_here(self) -> str:
        return "to school" if self.place == "school" else f"to {self.place} too"

    # episodes: each uses the world set up above -----------------------------------------------
    def play_together(self) -> None:
        h, f = self.hero, self.friend
        self.say(self.pick(
            f"\"Can I play with it?\" asked {f.name}. \"Yes, we can play together,\" said {h.name}.",
            f"\"Let us play with it,\" said {f.name}. \"Yes!\" said {h.name}.",
            f"{h.name} wanted to share {self.thing(short=True)} with {f.name}.",
        ))
        self.say(f"{h.name} and {f.name} {self.play.format(t=self.thing(short=True))}.")
        self.say(self.pick(
            "They laughed and laughed.",
            "It was so much fun.",
            f"They played until the sun was high.",
            f"{f.name} said it was the best game ever.",
        ))

    def lost_and_found(self) -> None:
        h, f = self.hero, self.friend
        hidden = self.spots[2]
        self.say(self.pick(
            f"Then a strong wind came and blew {self.thing()} away!",
            f"Then {h.name} put {self.thing()} down, and when {h.he} looked again, it was gone!",
            f"Oh no! {cap(self.thing())} was not there any more.",
        ))
        self.say(self.pick(
            f"\"Where is my {self.noun}?\" cried {h.name}.",
            f"{h.name} was sad. \"I lost my {self.noun},\" {h.he} said.",
        ))
        self.say(f"{h.name} and {f.name} looked for the {self.noun} everywhere.")
        self.say(f"They looked {self.spots[0]} and {self.spots[1]}.")
        finder = self.rng.choice((h, f))
        self.say(self.pick(
            f"At last, {finder.name} found {self.thing()} {hidden}.",
            f"Then {finder.name} saw something {self.colour} {hidden}. It was the {self.noun}!",
        ))
        self.say(self.pick(
            "\"Here it is!\" said " + finder.name + ".",
            f"\"I found it!\" shouted {finder.name}.",
        ))
        self.say(f"{h.name} was very {self.rng.choice(FEELINGS)}.")

    def pet_runs_off(self) -> None:
        h, f = self.hero, self.friend
        kind, name = self.pet
        self.say(f"Suddenly, {name} the {kind} took {self.thing()} and ran away!")
        self.say(self.pick(
            f"\"Come back, {name}!\" shouted {h.name}.",
            f"\"Stop, {name}!\" called {f.name}.",
        ))
        self.say(f"{h.name} and {f.name} ran after {name}.")
        self.say(self.pick(
            f"They found {name} {self.spots[1]}, with the {self.noun} next to it.",
            f"{name} was {self.spots[1]}, sitting on {self.thing()}.",
        ))
        self.say(f"\"Silly {kind},\" laughed {h.name}.")

    def counting_food(self) -> None:
        h, f = self.hero, self.friend
        food, one_food = self.rng.choice(FOODS)
        total = self.rng.randint(3, 10)
        given = self.rng.randint(1, total - 1)
        left = total - given
        self.say(self.pick(
            f"{h.name}'s {self.grown_up} had packed {NUMBERS[total]} {food} for {h.him}.",
            f"{h.name} had {NUMBERS[total]} {food} in {h.his} bag.",
        ))
        thing_word = food if given > 1 else one_food
        self.say(self.pick(
            f"{cap(h.he)} gave {NUMBERS[given]} {thing_word} to {f.name}.",
            f"{f.name} was hungry, so {h.name} gave {f.name} {NUMBERS[given]} {thing_word}.",
        ))
        left_word = food if left > 1 else one_food
        self.say(self.pick(
            f"Now {h.name} had {NUMBERS[left]} {left_word} left.",
            f"{cap(NUMBERS[total])} take away {NUMBERS[given]} is {NUMBERS[left]}, so {h.name} had "
            f"{NUMBERS[left]} {left_word} left.",
        ))
        self.say(self.pick(
            f"\"Thank you, {h.name},\" said {f.name}.",
            f"{f.name} said thank you, and they ate together.",
        ))

    def counting_things(self) -> None:
        h, f = self.hero, self.friend
        things, where = self.rng.choice(COUNTABLE)
        n = self.rng.randint(2, 7)
        counter = self.rng.choice((h, f))
        self.say(f"{counter.name} counted the {things} {where}.")
        self.say("\"" + cap(", ".join(NUMBERS[1:n + 1])) + "!\" " + counter.he + " said.")
        self.say(f"\"There are {NUMBERS[n]} {things}!\"")
        if self.rng.random() < 0.5:
            self.say(f"Then one more came. Now there were {NUMBERS[n + 1]}.")

    def muddy(self) -> None:
        h, f = self.hero, self.friend
        self.say(self.pick(
            f"Then {self.thing()} fell in the mud.",
            f"Oops! {h.name} dropped {self.thing()} in a puddle of mud.",
        ))
        self.say(f"Now the {self.noun} was not {self.colour}. It was brown and dirty.")
        self.say(self.pick(
            f"{h.name} and {f.name} washed it with water.",
            f"{f.name} helped {h.name} clean it with soap and water.",
        ))
        self.say(f"Soon {self.thing()} was clean and {self.colour} again.")

    def owner_returns(self) -> None:
        h, f = self.hero, self.friend
        stranger, pron = self.rng.choice(STRANGERS)
        self.say(f"Then {stranger} came by. {cap(pron)} looked sad.")
        self.say(self.pick(
            f"\"I lost my {self.colour} {self.noun},\" {pron} said. \"Have you seen it?\"",
            f"\"Have you seen {self.a_thing()}?\" {pron} asked. \"It is mine.\"",
        ))
        self.say(f"{h.name} looked at {f.name}. Then {h.he} gave {self.thing()} to the "
                 f"{stranger.split(' ', 1)[1]}.")
        self.say(f"\"Thank you!\" said the {stranger.split(' ', 1)[1]}. "
                 f"\"You are good children.\"")
        self.say(self.pick(
            f"{h.name} felt {self.rng.choice(FEELINGS)} inside.",
            f"{h.name} and {f.name} smiled.",
        ))

    def rain(self) -> None:
        h, f = self.hero, self.friend
        self.say(self.pick(
            "Then dark clouds came, and it began to rain.",
            "Then the sky turned grey, and rain began to fall.",
        ))
        self.say(self.pick(
            f"{h.name} put {self.thing()} in {h.his} bag, and the two friends ran home.",
            f"{h.name} and {f.name} hid {self.spots[1]} until the rain stopped.",
        ))

    def gift(self) -> None:
        h, f = self.hero, self.friend
        self.say(self.pick(
            f"{f.name} looked at {self.thing()} for a long time.",
            f"{f.name} said, \"I wish I had {self.a_thing()}.\"",
        ))
        self.say(f"{h.name} gave {self.thing()} to {f.name}. \"This is for you,\" {h.he} said.")
        self.say(f"\"Thank you, {h.name}! You are a good friend,\" said {f.name}.")

    def ending(self, gave_away: bool) -> None:
        h, f = self.hero, self.friend
        self.new_paragraph()
        options = [
            f"In the evening, {h.name} went home and told {h.his} {self.grown_up} about "
            f"{'the day' if gave_away else self.thing()}.",
            f"That night, {h.name} dreamed about {f.name} and the {self.noun}.",
            f"From that day on, {h.name} and {f.name} played {self.where()} every day.",
            f"When the sun went down, {h.name} and {f.name} said goodbye.",
        ]
        if not gave_away:
            options.append(f"At night, {h.name} put {self.thing()} next to {h.his} bed.")
        self.say(self.rng.choice(options))
        self.say(self.pick(
            f"{cap(h.he)} was happy to have a friend like {f.name}.",
            f"It was a good day.",
            f"{h.name} fell asleep with a big smile.",
            f"\"What a day!\" said {h.name}.",
            "The end.",
        ))

    def pause(self) -> None:
        """A time word between two episodes: the day moves forward."""
        self.say(self.pick(
            "At noon, they sat down and ate their lunch.",
            "After lunch, the sun was high in the sky.",
            "Later that day, it got very warm.",
            "In the afternoon, a soft wind began to blow.",
            f"After a short rest, {self.friend.name} had an idea.",
        ))

    def write(self) -> str:
        self.opening()
        self.going_out()
        self.finding()
        self.friend_comes()
        episodes = [self.play_together, self.lost_and_found, self.counting_food,
                    self.counting_things, self.muddy]
        if self.pet:
            episodes.append(self.pet_runs_off)
        self.new_paragraph()
        first, second = self.rng.sample(episodes, 2)
        first()
        self.pause()
        second()
        # the last episode: the object may leave the story, or the rain ends the day
        gave_away = False
        last = self.rng.random()
        if last < 0.2:
            self.owner_returns()
            gave_away = True
        elif last < 0.4:
            self.gift()
            gave_away = True
        elif last < 0.6:
            self.rain()
        self.ending(gave_away)
        return "\n".join(" ".join(p) for p in self.paragraphs if p)


def make_stories(n_stories: int = N_STORIES, seed: int = SEED) -> str:
    """The whole corpus as one string: each story, a newline, ``<|endoftext|>``, a newline."""
    rng = random.Random(seed)
    return "".join(f"{StoryWriter(rng).write()}\n{END_OF_TEXT}\n" for _ in range(n_stories))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the corpus")
    args = parser.parse_args()
    text = make_stories()
    args.out.write_bytes(text.encode("utf-8"))
    words = sorted(set(re.findall(r"[A-Za-z]+", text.replace(END_OF_TEXT, ""))))
    print(f"wrote {args.out}: {len(text.encode('utf-8')):,} bytes, {text.count(END_OF_TEXT):,} stories, "
          f"{len(words):,} distinct words, {len(set(text)):,} distinct characters")


if __name__ == "__main__":
    main()
