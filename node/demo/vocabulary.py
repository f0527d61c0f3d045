"""The demo's words: people's names, the six communities, brands, products, texts.

Why a module of its own: this is what a reader of the demo's screens sees, and
what someone adapting the demo to another place or language edits; kept apart
from the code that draws from it (:mod:`.sample`, :mod:`.scenario`), it can be
read and changed as a list, without any logic in the way. A text too long for
its record's field is caught by ``R.build`` when the sample is built (and so by
``tests/test_demo.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


PERSONAL_NAMES = _words(
    "Alice Bilal Chana Dov Elif Farah Gwen Hugo Ines Jonas Kofi Lena Malik Noa Oskar Priya"
)
FIRST = _words(
    "Amira Ben Clara David Emma Fatima Gabriel Hannah Ibrahim Julia Karim Laura Moshe "
    "Nadia Omar Paula Quentin Rachel Samir Tova Ugo Valentina Wei Yusuf Zoé Ana Léa "
    "Jakob Miriam Theo Sofia Luca Aisha Noah Esther Hamza Chloé Yael Mateo Leila"
)
LAST = _words(
    "Martin Haddad Cohen Schmidt Rossi Dubois Yilmaz Levi Nowak Garcia Benali Weber "
    "Moreau Kaplan Fischer Costa Rahman Meyer Lambert Friedman Silva Bakker Novak "
    "Ahmed Laurent Horvat"
)


@dataclass(frozen=True)
class CommunitySpec:
    """A community's charter, and what its products look like."""

    key: str
    name: str
    description: str
    values: tuple[str, ...]
    criteria: tuple[str, ...]
    labels: tuple[str, ...]  # product labels typical of this community
    kinds: tuple[str, ...]  # product kinds that belong here


COMMUNITIES = (
    CommunitySpec(
        "vegan",
        "Vegan",
        "Plant-based food and household products, free of animal ingredients and not "
        "tested on animals. Rate taste, how clean the ingredient list is, price and ethics.",
        ("vegan", "plant-based", "cruelty-free"),
        ("taste", "ingredients", "price", "ethics"),
        ("vegan", "organic", "palm-oil-free", "v-label"),
        _words(
            "oat drink|soy yoghurt|tofu|seitan|vegan cheese|hummus|veggie burger|almond drink|"
            "tempeh|lentil pasta|dark chocolate",
            "|",
        ),
    ),
    CommunitySpec(
        "halal",
        "Halal",
        "Food prepared according to Islamic dietary law, with a certification we can trace.",
        ("halal", "certified", "traceable"),
        ("taste", "certification", "ingredients", "price"),
        ("halal", "certified-halal", "no-alcohol"),
        _words(
            "chicken sausages|beef merguez|lamb kebab|gelatine-free gummies|chicken nuggets|"
            "turkey slices|beef burger|couscous meal",
            "|",
        ),
    ),
    CommunitySpec(
        "kosher",
        "Kosher",
        "Products under a reliable kashrut supervision: meat, dairy and pareve.",
        ("kosher", "supervised"),
        ("taste", "certification", "price"),
        ("kosher", "pareve", "dairy", "kosher-for-passover"),
        _words(
            "matzah|challah|gefilte fish|pareve margarine|hummus|rugelach|chicken soup|halva|"
            "pickled cucumbers",
            "|",
        ),
    ),
    CommunitySpec(
        "gluten-free",
        "Gluten-free",
        "Safe food for people with coeliac disease or gluten intolerance: certified, "
        "no cross-contamination, and still good to eat.",
        ("gluten-free", "coeliac-safe"),
        ("taste", "texture", "safety", "price"),
        ("gluten-free", "crossed-grain", "wheat-free"),
        _words("bread|pasta|pizza base|crackers|muesli|brownie mix|beer|flour blend|cookies", "|"),
    ),
    CommunitySpec(
        "local",
        "Local producers",
        "Food grown and made within 150 km, sold as directly as possible.",
        ("local", "seasonal", "short supply chain"),
        ("taste", "freshness", "distance", "price"),
        ("local", "seasonal", "farm", "organic"),
        _words(
            "apple juice|goat cheese|honey|free-range eggs|rye bread|strawberry jam|cider|"
            "butter|yoghurt",
            "|",
        ),
    ),
    CommunitySpec(
        "fair-trade",
        "Fair trade",
        "Products that pay their growers and workers fairly, with transparent supply chains.",
        ("fair trade", "living wage", "transparency"),
        ("taste", "ethics", "transparency", "price"),
        ("fairtrade", "organic", "rainforest", "direct-trade"),
        _words(
            "coffee beans|ground coffee|green tea|cocoa powder|milk chocolate|bananas|"
            "cane sugar|quinoa|cashews",
            "|",
        ),
    ),
)

BRANDS = _words(
    "Verdana|Altgrün|Green Fields|Maison Rivière|Bergmann|Sol & Terre|Al-Baraka|Noor|"
    "Shalom Foods|Golan Valley|Glutenfrei & Gut|Purely|Hof Lindner|La Ferme du Coin|"
    "Equal Bean|Tierra Justa|Hafer Hills|Nordkorn|Casa Verde|Bio Vita",
    "|",
)
ADJECTIVES = _words(
    "Organic|Classic|Crunchy|Creamy|Smoked|Wholegrain|Mild|Spicy|Original|Light|"
    "Rustic|Golden|Barista|Family pack|Extra",
    "|",
)
GTIN_PREFIXES = _words("400 401 402 403 404 300 301 302 376 377 800 801 840 760 761 871 729 590")
RATING_TEXTS = (
    "",
    "",
    "",
    "",
    "Would buy again.",
    "Too expensive for what it is.",
    "Great taste!",
    "Check the label: the recipe changed.",
    "My kids love it.",
    "Hard to find in shops.",
    "Certification looks solid.",
    "A bit bland.",
    "Best one I have tried so far.",
    "Packaging is excessive.",
    "Good value.",
    "Texture is off.",
)
PETITIONS = (
    (
        "Label every animal-derived additive",
        "Please print the origin of E-numbers such as "
        "E120 and E904 on the pack, so that we do not need to write to you each time.",
        "Food manufacturers",
    ),
    (
        "Show the certifying body on the front",
        "Name the certification body and the certificate number on every certified product.",
        "Retailers",
    ),
    (
        "Separate production lines",
        "Publish whether products share a production line with "
        "products that would make them unsuitable for us.",
        "Food manufacturers",
    ),
    (
        "Fair prices for the producers",
        "Publish the share of the shelf price that goes to "
        "the farmers who grew the main ingredient.",
        "Supermarket chains",
    ),
    (
        "Keep the old recipe",
        "The new recipe adds ingredients many of us avoid. Bring back "
        "the previous one, or sell both.",
        "The brand",
    ),
    (
        "Stock more of these products",
        "Our local shops carry very few of the products this "
        "community rates well. Please list them.",
        "Local supermarkets",
    ),
)
