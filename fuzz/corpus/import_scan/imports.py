import os, a.b as c
from . import x
from ..q import (y as z, w,)
from m import *
