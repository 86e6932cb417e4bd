x = yield from g()
from after_yield import it