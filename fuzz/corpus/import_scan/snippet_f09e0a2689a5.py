s = """
from x import y
"""