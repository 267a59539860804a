import pytest
from mmengine.config import ConfigDict

from ovperception.models.cfg_defaults import with_defaults

DEFAULTS = dict(mode='slide', stride=(3, 3))


def test_given_keys_override_the_defaults_without_touching_them():
    merged = with_defaults(ConfigDict(mode='whole'), DEFAULTS, 'test_cfg')
    assert merged == dict(mode='whole', stride=(3, 3)) and type(merged) is dict
    assert DEFAULTS == dict(mode='slide', stride=(3, 3))
    assert with_defaults(None, DEFAULTS, 'test_cfg') == DEFAULTS
    assert with_defaults(None, DEFAULTS, 'test_cfg') is not DEFAULTS


def test_unknown_keys_are_one_line_naming_the_option_and_the_valid_keys():
    with pytest.raises(ValueError) as error:
        with_defaults(dict(strid=1, mod='x'), DEFAULTS, 'rpn test_cfg')
    assert str(error.value) == ("unknown rpn test_cfg keys ['mod', 'strid']; valid keys: "
                                "['mode', 'stride']")
