"""ovperception: dense open-vocabulary perception on frozen CLIP backbones."""

__version__ = '0.1.0'
