x = (
  1,
  2)
import after_brackets