"""fastcnn.nn: modules mirroring torch.nn."""
from . import functional, init
from .modules import *  # noqa: F401,F403 - the module classes are the public surface
