"""Taskonomy's classification label spaces: the 63 indoor Places365 scenes and the 100 ImageNet objects.

Taskonomy stores distilled soft labels over all 365 Places classes
(``class_scene``) and all 1000 ImageNet classes (``class_object``); its own
code keeps only the indoor-relevant subsets and renormalises
(``load_ops.py::class_places_workspace_and_home``, ``selected_class.npy``).
The benchmark's global class id is the position inside the subset.

Provenance (docs/datasets.md#taskonomy): the 63 Places indices equal
the positions of the 1-entries of the 365-long mask in StanfordVL/taskonomy
``load_ops.py`` (checked against CSAILVision ``categories_places365.txt``);
object names are ImageNet-1k names as torchvision lists them.
"""

from __future__ import annotations

SCENE_INDICES: tuple[int, ...] = (
    3, 23, 25, 26, 28, 37, 43, 45, 51, 52, 56, 61, 63, 88, 89, 93, 95, 100, 102, 106, 121, 124, 126, 129, 131,
    133, 135, 156, 165, 176, 177, 179, 182, 203, 208, 215, 217, 228, 240, 241, 244, 246, 248, 253, 255, 264,
    269, 280, 281, 282, 285, 298, 303, 311, 317, 318, 328, 332, 343, 346, 352, 358, 363,
)
SCENE_NAMES: tuple[str, ...] = (
    "alcove", "assembly_line", "atrium-public", "attic", "auto_factory", "bank_vault", "basement", "bathroom",
    "bedchamber", "bedroom", "biology_laboratory", "booth-indoor", "bow_window-indoor", "chemistry_lab",
    "childs_room", "clean_room", "closet", "computer_room", "conference_room", "corridor", "dining_room",
    "dorm_room", "dressing_room", "elevator-door", "elevator_shaft", "engine_room", "escalator-indoor",
    "garage-indoor", "greenhouse-indoor", "home_office", "home_theater", "hospital_room", "hotel_room", "kitchen",
    "laundromat", "living_room", "lobby", "mezzanine", "nursery", "nursing_home", "office", "office_cubicles",
    "operating_room", "pantry", "parking_garage-indoor", "physics_laboratory", "playroom", "reception",
    "recreation_room", "repair_shop", "restaurant_kitchen", "server_room", "shower", "stable", "staircase",
    "storage_room", "television_room", "ticket_booth", "utility_room", "veterinarians_office", "waiting_room",
    "wet_bar", "youth_hostel",
)
OBJECT_INDICES: tuple[int, ...] = (
    401, 402, 409, 412, 414, 430, 431, 435, 453, 462, 463, 470, 478, 487, 488, 492, 495, 504, 505, 508, 519, 520,
    521, 526, 527, 528, 530, 532, 533, 534, 539, 545, 546, 548, 550, 553, 559, 564, 579, 588, 598, 606, 619, 620,
    632, 648, 651, 662, 664, 673, 681, 700, 706, 711, 713, 716, 721, 728, 729, 733, 736, 737, 738, 742, 748, 750,
    752, 753, 754, 760, 761, 765, 770, 773, 778, 794, 799, 804, 805, 809, 825, 827, 831, 844, 846, 849, 851, 859,
    861, 882, 883, 892, 894, 897, 904, 905, 907, 923, 968, 999,
)
OBJECT_NAMES: tuple[str, ...] = (
    "accordion", "acoustic guitar", "analog clock", "ashcan", "backpack", "basketball", "bassinet", "bathtub",
    "bookcase", "broom", "bucket", "candle", "carton", "cellular telephone", "chain", "chest", "china cabinet",
    "coffee mug", "coffeepot", "computer keyboard", "crate", "crib", "Crock Pot", "desk", "desktop computer",
    "dial telephone", "digital clock", "dining table", "dishrag", "dishwasher", "doormat", "electric fan",
    "electric guitar", "entertainment center", "espresso maker", "file", "folding chair", "four-poster",
    "grand piano", "hamper", "home theater", "iron", "lampshade", "laptop", "loudspeaker", "medicine chest",
    "microwave", "modem", "monitor", "mouse", "notebook", "paper towel", "patio", "perfume", "photocopier",
    "picket fence", "pillow", "plastic bag", "plate rack", "pole", "pool table", "pop bottle", "pot", "printer",
    "purse", "quilt", "racket", "radiator", "radio", "refrigerator", "remote control", "rocking chair",
    "running shoe", "saltshaker", "scale", "shower curtain", "sliding door", "soap dispenser", "soccer ball",
    "soup bowl", "stone wall", "stove", "studio couch", "switch", "table lamp", "teapot", "television", "toaster",
    "toilet seat", "vacuum", "vase", "wall clock", "wardrobe", "washer", "window screen", "window shade",
    "wine bottle", "plate", "cup", "toilet tissue",
)


class LabelSpace:
    """One soft-label folder and the subset of its full vector the benchmark classifies over."""

    def __init__(self, kind: str, folder: str, full_length: int, indices: tuple[int, ...], names: tuple[str, ...]):
        assert len(indices) == len(names)
        self.kind, self.folder, self.full_length, self.indices, self.names = kind, folder, full_length, indices, names


LABEL_SPACES: dict[str, LabelSpace] = {
    "scene": LabelSpace("scene", "class_scene", 365, SCENE_INDICES, SCENE_NAMES),
    "object": LabelSpace("object", "class_object", 1000, OBJECT_INDICES, OBJECT_NAMES),
}
