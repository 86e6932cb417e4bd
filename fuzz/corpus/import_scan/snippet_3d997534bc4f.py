raise X from Y
import after_raise