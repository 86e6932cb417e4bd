import importlib
importlib.import_module('im')
importlib.import_module('..rel', package='a.b.c')
