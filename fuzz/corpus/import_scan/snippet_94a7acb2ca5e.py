global g
import after_global