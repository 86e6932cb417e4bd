from m import (x,
  y as z,
)