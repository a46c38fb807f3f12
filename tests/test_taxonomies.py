import pytest

from zoo.errors import LabelError
from zoo.taxonomies import ED32, EKMAN7, EMONET40, ESCONV8, MIKELS8, SEMEVAL_EC11, get_taxonomy, load_vocabulary


def test_mikels_order_and_polarity_follow_emoset():
    assert MIKELS8.labels == ("amusement", "awe", "contentment", "excitement", "anger", "disgust", "fear", "sadness")
    assert [MIKELS8.coarse_index(label) for label in MIKELS8.labels] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_unknown_label_error_names_the_source_file():
    with pytest.raises(LabelError, match=r"train\.json.*unknown mikels8 label 'joy'"):
        MIKELS8.index("joy", source="train.json")


def test_aliases_and_case_folding():
    assert EMONET40.canonical("Hopelessness") == "Helplessness"
    assert EKMAN7.index("Happy") == EKMAN7.index("joy")


def test_ed32_groups_partition_the_32_emotions():
    members = [m for group in ED32.groups.values() for m in group]
    assert len(ED32) == 32 and sorted(members) == sorted(ED32.labels)
    assert ED32.coarse["terrified"] == "afraid" and ED32.coarse["content"] == "impressed"


def test_fixed_sizes():
    assert (len(EMONET40), len(ESCONV8), len(SEMEVAL_EC11), len(EKMAN7)) == (40, 8, 11, 7)
    assert get_taxonomy("ed32") is ED32


def test_vocabulary_from_info_json_checks_indices(tmp_path):
    path = tmp_path / "info.json"
    path.write_text('{"scene": {"label2idx": {"beach": 1, "alley": 0}}}')
    assert load_vocabulary(path, "scene").labels == ("alley", "beach")
    path.write_text('{"scene": {"label2idx": {"beach": 2, "alley": 0}}}')
    with pytest.raises(Exception, match="info.json.*not 0..1"):
        load_vocabulary(path, "scene")
