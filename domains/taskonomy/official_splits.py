"""The official Taskonomy building splits (StanfordVL/taskonomy ``splits_taskonomy/train_val_test_*.csv``).

Transcribed from the released CSV files (counts tiny 25/5/5, medium
99/20/19; docs/datasets.md#taskonomy). Embedded as data so that a run never
needs the original zip; ``write_official_csv`` reproduces the file format
(bare CR line ends) for anyone who wants the CSV itself.
"""

from __future__ import annotations

from pathlib import Path

from domains.realdata import write_split_csv


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.replace("\n", " ").split(",") if n.strip()]


TINY = {
    "meta_train": _names("""hanson, merom, klickitat, onaga, leonardo, marstons, newfields, pinesdale, lakeville,
        cosmos, benevolence, pomaria, tolstoy, shelbyville, allensville, wainscott, beechwood, coffeen,
        stockman, hiteman, woodbine, lindenwood, forkland, mifflinburg, ranchester"""),
    "meta_val": _names("wiconisco, corozal, collierville, markleeville, darden"),
    "meta_test": _names("ihlen, muleshoe, uvalda, noxapater, mcdade"),
}

MEDIUM = {
    "meta_train": _names("""hanson, merom, goodfield, eagan, adairsville, castor, klickitat, cottonport, tyler,
        sugarville, martinville, chilhowie, silas, lynchburg, tokeland, onaga, frankfort, goodyear,
        albertville, andover, airport, rogue, ancor, leonardo, maida, marstons, athens, newfields, broseley,
        irvine, pinesdale, tilghmanton, goodwine, hildebran, winooski, lakeville, cosmos, goffs, sunshine,
        globe, benevolence, emmaus, pomaria, neibert, parole, tolstoy, shelbyville, potterville, rosser,
        allensville, springerville, nuevo, stilwell, browntown, readsboro, shelbiana, wainscott, arkansaw,
        bonnie, beechwood, hominy, churchton, coffeen, willow, timberon, bohemia, micanopy, hillsdale,
        wilseyville, kemblesville, thrall, bonesteel, annona, stockman, soldier, neshkoro, newcomb, byers,
        oyens, victorville, pamelia, marland, hiteman, sussex, bautista, highspire, woodbine, sweatman,
        clairton, touhy, lindenwood, anaheim, duarte, musicks, forkland, mifflinburg, hainesburg,
        maugansville, ranchester"""),
    "meta_val": _names("""hortense, southfield, wiconisco, gravelly, hordville, corozal, swormville, collierville,
        pearce, pablo, pittsburg, markleeville, sands, kobuk, westfield, wyldwood, swisshome, scioto,
        waipahu, darden"""),
    "meta_test": _names("""brinnon, ihlen, darrtown, cousins, muleshoe, uvalda, donaldson, poipu, rockport,
        cauthron, german, edson, wando, noxapater, mcdade, helton, natural, cochranton, losantville"""),
}

OFFICIAL: dict[str, dict[str, list[str]]] = {"tiny": TINY, "medium": MEDIUM}

# Buildings EPFL-VILAB/omnidata leaves out (rgb missing for tomkins, darnestown, brinnon, per its comment).
OMNIDATA_FORBIDDEN: tuple[str, ...] = ("mosquito", "tansboro", "tomkins", "darnestown", "brinnon", "rough", "woodbine")


def write_official_csv(name: str, path: Path) -> None:
    """Write ``train_val_test_{name}.csv`` in the StanfordVL format (header, 0/1 flags, bare CR)."""
    write_split_csv(OFFICIAL[name], path)
